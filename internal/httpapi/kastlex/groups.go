package kastlex

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/record"
)

// groups answers GET /api/v{1,2}/consumers: the group ids, sorted.
func (a *api) groups(w http.ResponseWriter, r *http.Request) error {
	lgs, err := a.kc.Admin().ListGroups(r.Context())
	if err != nil {
		return err
	}
	names := lgs.Groups()
	sort.Strings(names)
	if names == nil {
		names = []string{}
	}
	return writeJSON(w, http.StatusOK, names)
}

// printable is KastleX's test for showing bytes as text.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// encoded is bytes as KastleX shows user data and offset metadata: text
// when printable, else base64.
func encoded(b []byte) (string, string) {
	if printable(b) {
		return string(b), "text"
	}
	return record.Base64(b), "base64"
}

type groupInfo struct {
	g   kadm.DescribedGroup
	lag kadm.GroupLag
}

// visibleTopics keeps the topics the caller may see, so that a group's
// description never shows another tenant's topics, partitions or high
// watermarks.
func (a *api) visibleTopics(ctx context.Context, topics []string) []string {
	out := []string{}
	for _, t := range topics {
		if a.visible(ctx, t) {
			out = append(out, t)
		}
	}
	return out
}

// describe loads a group with its committed offsets and lag; a group
// Kafka does not know is 404.
func (a *api) describe(ctx context.Context, id string) (groupInfo, error) {
	dgs, err := a.kc.Admin().DescribeGroups(ctx, id)
	if err != nil {
		return groupInfo{}, err
	}
	g, ok := dgs[id]
	if !ok || errors.Is(g.Err, kerr.GroupIDNotFound) || (g.Err == nil && g.State == "Dead") {
		return groupInfo{}, httpapi.ErrNotFound.Msg("Unknown group %s.", truncate(id, 255))
	}
	if g.Err != nil {
		return groupInfo{}, g.Err
	}
	dls, err := a.kc.Admin().Lag(ctx, id)
	if err != nil {
		return groupInfo{}, err
	}
	dl := dls[id]
	if err := dl.Error(); err != nil {
		return groupInfo{}, err
	}
	return groupInfo{g: g, lag: dl.Lag}, nil
}

// v1 shapes (seed 002): members with subscription and assignment, and
// the committed offsets with the high watermark.
type v1Group struct {
	GroupID    string        `json:"group_id"`
	Protocol   string        `json:"protocol"`
	Members    []v1Member    `json:"members"`
	Partitions []v1Partition `json:"partitions"`
	MaxLag     int64         `json:"maxlag"`
}

type v1Member struct {
	MemberID     string          `json:"member_id"`
	ClientID     string          `json:"client_id"`
	ClientHost   string          `json:"client_host"`
	Subscription *v1Subscription `json:"subscription"`
	Assignment   *v1Assignment   `json:"assignment"`
}

type v1Subscription struct {
	Version          int16    `json:"version"`
	UserDataEncoding string   `json:"user_data_encoding"`
	UserData         string   `json:"user_data"`
	Topics           []string `json:"topics"`
}

type v1Assignment struct {
	Version          int16              `json:"version"`
	UserDataEncoding string             `json:"user_data_encoding"`
	UserData         string             `json:"user_data"`
	TopicPartitions  map[string][]int32 `json:"topic_partitions"`
}

type v1Partition struct {
	Topic            string `json:"topic"`
	Partition        int32  `json:"partition"`
	Offset           int64  `json:"offset"`
	MetadataEncoding string `json:"metadata_encoding"`
	Metadata         string `json:"metadata"`
	HighWmOffset     int64  `json:"high_wm_offset"`
}

func (a *api) groupV1(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	gi, err := a.describe(ctx, r.PathValue("group"))
	if err != nil {
		return err
	}
	out := v1Group{GroupID: gi.g.Group, Protocol: gi.g.Protocol, Members: []v1Member{}, Partitions: []v1Partition{}, MaxLag: -1}
	for _, m := range gi.g.Members {
		vm := v1Member{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost}
		if s, ok := m.Join.AsConsumer(); ok {
			ud, enc := encoded(s.UserData)
			vm.Subscription = &v1Subscription{Version: s.Version, UserDataEncoding: enc, UserData: ud, Topics: a.visibleTopics(ctx, s.Topics)}
		}
		if as, ok := m.Assigned.AsConsumer(); ok {
			ud, enc := encoded(as.UserData)
			tp := map[string][]int32{}
			for _, t := range as.Topics {
				if a.visible(ctx, t.Topic) {
					tp[t.Topic] = append(tp[t.Topic], t.Partitions...)
				}
			}
			vm.Assignment = &v1Assignment{Version: as.Version, UserDataEncoding: enc, UserData: ud, TopicPartitions: tp}
		}
		out.Members = append(out.Members, vm)
	}
	seen := map[string]bool{}
	for _, l := range gi.lag.Sorted() {
		if l.Commit.At < 0 || !a.visibleOnce(ctx, seen, l.Topic) {
			continue
		}
		md, enc := encoded([]byte(l.Commit.Metadata))
		out.Partitions = append(out.Partitions, v1Partition{Topic: l.Topic, Partition: l.Partition, Offset: l.Commit.At,
			MetadataEncoding: enc, Metadata: md, HighWmOffset: l.End.Offset})
		if l.Err == nil && l.Lag > out.MaxLag {
			out.MaxLag = l.Lag
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// v2 shapes: Kafka's DescribeGroups answer plus committed offsets with
// the lag of each partition.
type v2Group struct {
	GroupID          string        `json:"group_id"`
	State            string        `json:"state"`
	ProtocolType     string        `json:"protocol_type"`
	Protocol         string        `json:"protocol"`
	Members          []v2Member    `json:"members"`
	CommittedOffsets []v2Committed `json:"committed_offsets"`
}

type v2Member struct {
	MemberID         string          `json:"member_id"`
	ClientID         string          `json:"client_id"`
	ClientHost       string          `json:"client_host"`
	MemberMetadata   *v1Subscription `json:"member_metadata"`
	MemberAssignment *v2Assignment   `json:"member_assignment"`
}

type v2Assignment struct {
	Version          int16          `json:"version"`
	UserDataEncoding string         `json:"user_data_encoding"`
	UserData         string         `json:"user_data"`
	TopicPartitions  []v2TopicParts `json:"topic_partitions"`
}

type v2TopicParts struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

type v2Committed struct {
	Topic              string        `json:"topic"`
	PartitionResponses []v2Partition `json:"partition_responses"`
}

type v2Partition struct {
	Partition        int32  `json:"partition"`
	Offset           int64  `json:"offset"`
	MetadataEncoding string `json:"metadata_encoding"`
	Metadata         string `json:"metadata"`
	ErrorCode        string `json:"error_code"`
	Lag              int64  `json:"lag"`
}

func (a *api) groupV2(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	gi, err := a.describe(ctx, r.PathValue("group"))
	if err != nil {
		return err
	}
	out := v2Group{GroupID: gi.g.Group, State: gi.g.State, ProtocolType: gi.g.ProtocolType, Protocol: gi.g.Protocol,
		Members: []v2Member{}, CommittedOffsets: []v2Committed{}}
	for _, m := range gi.g.Members {
		vm := v2Member{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost}
		if s, ok := m.Join.AsConsumer(); ok {
			ud, enc := encoded(s.UserData)
			vm.MemberMetadata = &v1Subscription{Version: s.Version, UserDataEncoding: enc, UserData: ud, Topics: a.visibleTopics(ctx, s.Topics)}
		}
		if as, ok := m.Assigned.AsConsumer(); ok {
			ud, enc := encoded(as.UserData)
			va := &v2Assignment{Version: as.Version, UserDataEncoding: enc, UserData: ud, TopicPartitions: []v2TopicParts{}}
			for _, t := range as.Topics {
				if !a.visible(ctx, t.Topic) {
					continue
				}
				va.TopicPartitions = append(va.TopicPartitions, v2TopicParts{Topic: t.Topic, Partitions: append([]int32{}, t.Partitions...)})
			}
			vm.MemberAssignment = va
		}
		out.Members = append(out.Members, vm)
	}
	seen := map[string]bool{}
	for _, l := range gi.lag.Sorted() {
		if l.Commit.At < 0 || !a.visibleOnce(ctx, seen, l.Topic) {
			continue
		}
		if n := len(out.CommittedOffsets); n == 0 || out.CommittedOffsets[n-1].Topic != l.Topic {
			out.CommittedOffsets = append(out.CommittedOffsets, v2Committed{Topic: l.Topic})
		}
		md, enc := encoded([]byte(l.Commit.Metadata))
		ec := "no_error"
		if l.Err != nil {
			var ke *kerr.Error
			if errors.As(l.Err, &ke) {
				ec = strings.ToLower(ke.Message)
			} else {
				ec = "unknown"
			}
		}
		c := &out.CommittedOffsets[len(out.CommittedOffsets)-1]
		c.PartitionResponses = append(c.PartitionResponses, v2Partition{Partition: l.Partition, Offset: l.Commit.At,
			MetadataEncoding: enc, Metadata: md, ErrorCode: ec, Lag: l.Lag})
	}
	return writeJSON(w, http.StatusOK, out)
}

// visibleOnce is visible, decided once per topic of a response.
func (a *api) visibleOnce(ctx context.Context, seen map[string]bool, topic string) bool {
	ok, known := seen[topic]
	if !known {
		ok = a.visible(ctx, topic)
		seen[topic] = ok
	}
	return ok
}
