package v3

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kgate/kgate/internal/httpapi"
)

type consumerGroupData struct {
	Kind                 string `json:"kind"`
	Metadata             meta   `json:"metadata"`
	ClusterID            string `json:"cluster_id"`
	ConsumerGroupID      string `json:"consumer_group_id"`
	IsSimple             bool   `json:"is_simple"`
	PartitionAssignor    string `json:"partition_assignor"`
	State                string `json:"state"`
	Type                 string `json:"type"`
	IsMixedConsumerGroup bool   `json:"is_mixed_consumer_group"`
	Coordinator          *rel   `json:"coordinator,omitempty"`
	Consumers            rel    `json:"consumers"`
	LagSummary           rel    `json:"lag_summary"`
}

// groupState maps Kafka's group states to Confluent's names.
func groupState(s string) string {
	switch s {
	case "Stable":
		return "STABLE"
	case "Empty":
		return "EMPTY"
	case "Dead":
		return "DEAD"
	case "PreparingRebalance":
		return "PREPARING_REBALANCE"
	case "CompletingRebalance":
		return "COMPLETING_REBALANCE"
	case "Assigning":
		return "ASSIGNING"
	case "Reconciling":
		return "RECONCILING"
	}
	return "UNKNOWN"
}

func (l links) groupData(g kadm.DescribedGroup) consumerGroupData {
	d := consumerGroupData{
		Kind:              "KafkaConsumerGroup",
		Metadata:          meta{Self: l.url("consumer-groups", g.Group), ResourceName: l.crn("consumer-group", g.Group)},
		ClusterID:         l.cid,
		ConsumerGroupID:   g.Group,
		IsSimple:          g.ProtocolType == "",
		PartitionAssignor: g.Protocol,
		State:             groupState(g.State),
		Type:              "CLASSIC",
		Consumers:         rel{l.url("consumer-groups", g.Group, "consumers")},
		LagSummary:        rel{l.url("consumer-groups", g.Group, "lag-summary")},
	}
	if g.Coordinator.NodeID >= 0 && g.Coordinator.Host != "" {
		d.Coordinator = &rel{l.url("brokers", strconv.Itoa(int(g.Coordinator.NodeID)))}
	}
	return d
}

// errGroupNotFound is a missing group: 404, as Confluent's NotFound.
func errGroupNotFound(g string) error {
	return httpapi.ErrNotFound.Msg("Consumer group %s cannot be found.", truncate(g, 255))
}

// group describes one group; a group Kafka does not know is 404.
func (a *api) group(ctx context.Context, id string) (kadm.DescribedGroup, error) {
	dgs, err := a.kc.Admin().DescribeGroups(ctx, id)
	if err != nil {
		var se *kadm.ShardErrors
		if errors.As(err, &se) {
			return kadm.DescribedGroup{}, se.Errs[0].Err
		}
		return kadm.DescribedGroup{}, err
	}
	g, ok := dgs[id]
	if !ok || errors.Is(g.Err, kerr.GroupIDNotFound) || (g.Err == nil && g.State == "Dead") {
		return kadm.DescribedGroup{}, errGroupNotFound(id)
	}
	if g.Err != nil {
		return kadm.DescribedGroup{}, g.Err
	}
	return g, nil
}

func (a *api) listGroups(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	lgs, err := a.kc.Admin().ListGroups(r.Context())
	if err != nil {
		return err
	}
	data := []consumerGroupData{}
	if names := lgs.Groups(); len(names) > 0 {
		dgs, err := a.kc.Admin().DescribeGroups(r.Context(), names...)
		if err != nil {
			return err
		}
		for _, g := range dgs.Sorted() {
			if g.Err != nil {
				continue
			}
			data = append(data, l.groupData(g))
		}
	}
	return writeJSON(w, http.StatusOK, newList("KafkaConsumerGroupList", l.url("consumer-groups"), data))
}

func (a *api) getGroup(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	g, err := a.group(r.Context(), r.PathValue("consumer_group_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l.groupData(g))
}

type consumerData struct {
	Kind            string  `json:"kind"`
	Metadata        meta    `json:"metadata"`
	ClusterID       string  `json:"cluster_id"`
	ConsumerGroupID string  `json:"consumer_group_id"`
	ConsumerID      string  `json:"consumer_id"`
	InstanceID      *string `json:"instance_id,omitempty"`
	ClientID        string  `json:"client_id"`
	Assignments     rel     `json:"assignments"`
}

func (l links) consumerData(g string, m kadm.DescribedGroupMember) consumerData {
	return consumerData{
		Kind:            "KafkaConsumer",
		Metadata:        meta{Self: l.url("consumer-groups", g, "consumers", m.MemberID), ResourceName: l.crn("consumer-group", g, "consumer", m.MemberID)},
		ClusterID:       l.cid,
		ConsumerGroupID: g,
		ConsumerID:      m.MemberID,
		InstanceID:      m.InstanceID,
		ClientID:        m.ClientID,
		Assignments:     rel{l.url("consumer-groups", g, "consumers", m.MemberID, "assignments")},
	}
}

func (a *api) listConsumers(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	g, err := a.group(r.Context(), r.PathValue("consumer_group_id"))
	if err != nil {
		return err
	}
	data := []consumerData{}
	for _, m := range g.Members {
		data = append(data, l.consumerData(g.Group, m))
	}
	return writeJSON(w, http.StatusOK, newList("KafkaConsumerList", l.url("consumer-groups", g.Group, "consumers"), data))
}

// member resolves {consumer_id} in its group.
func (a *api) member(r *http.Request) (kadm.DescribedGroup, kadm.DescribedGroupMember, error) {
	g, err := a.group(r.Context(), r.PathValue("consumer_group_id"))
	if err != nil {
		return g, kadm.DescribedGroupMember{}, err
	}
	id := r.PathValue("consumer_id")
	for _, m := range g.Members {
		if m.MemberID == id {
			return g, m, nil
		}
	}
	return g, kadm.DescribedGroupMember{}, httpapi.ErrNotFound.Msg("Consumer %s cannot be found in group %s.", truncate(id, 255), g.Group)
}

func (a *api) getConsumer(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	g, m, err := a.member(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l.consumerData(g.Group, m))
}

type assignmentData struct {
	Kind            string `json:"kind"`
	Metadata        meta   `json:"metadata"`
	ClusterID       string `json:"cluster_id"`
	ConsumerGroupID string `json:"consumer_group_id"`
	ConsumerID      string `json:"consumer_id"`
	TopicName       string `json:"topic_name"`
	PartitionID     int32  `json:"partition_id"`
	Partition       rel    `json:"partition"`
	Lag             rel    `json:"lag"`
}

// assignments lists a member's assigned partitions on the topics the
// caller may see.
func (a *api) assignments(ctx context.Context, l links, g string, m kadm.DescribedGroupMember) []assignmentData {
	out := []assignmentData{}
	ca, ok := m.Assigned.AsConsumer()
	if !ok {
		return out
	}
	for _, t := range ca.Topics {
		if !a.visible(ctx, t.Topic) {
			continue
		}
		for _, p := range t.Partitions {
			ps := strconv.Itoa(int(p))
			out = append(out, assignmentData{
				Kind: "KafkaConsumerAssignment",
				Metadata: meta{
					Self:         l.url("consumer-groups", g, "consumers", m.MemberID, "assignments", t.Topic, "partitions", ps),
					ResourceName: l.crn("consumer-group", g, "consumer", m.MemberID, "assignment", t.Topic, "partition", ps),
				},
				ClusterID: l.cid, ConsumerGroupID: g, ConsumerID: m.MemberID, TopicName: t.Topic, PartitionID: p,
				Partition: rel{l.url("topics", t.Topic, "partitions", ps)},
				Lag:       rel{l.url("consumer-groups", g, "lags", t.Topic, "partitions", ps)},
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].TopicName != out[j].TopicName {
			return out[i].TopicName < out[j].TopicName
		}
		return out[i].PartitionID < out[j].PartitionID
	})
	return out
}

func (a *api) listAssignments(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	g, m, err := a.member(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList("KafkaConsumerAssignmentList",
		l.url("consumer-groups", g.Group, "consumers", m.MemberID, "assignments"), a.assignments(r.Context(), l, g.Group, m)))
}

func (a *api) getAssignment(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	g, m, err := a.member(r)
	if err != nil {
		return err
	}
	p, err := partitionParam(r)
	if err != nil {
		return err
	}
	t := r.PathValue("topic_name")
	for _, as := range a.assignments(r.Context(), l, g.Group, m) {
		if as.TopicName == t && as.PartitionID == p {
			return writeJSON(w, http.StatusOK, as)
		}
	}
	return httpapi.ErrNotFound.Msg("Consumer %s is not assigned %s/%d.", m.MemberID, truncate(t, 255), p)
}

type lagData struct {
	Kind            string  `json:"kind"`
	Metadata        meta    `json:"metadata"`
	ClusterID       string  `json:"cluster_id"`
	ConsumerGroupID string  `json:"consumer_group_id"`
	TopicName       string  `json:"topic_name"`
	PartitionID     int32   `json:"partition_id"`
	ConsumerID      string  `json:"consumer_id"`
	InstanceID      *string `json:"instance_id,omitempty"`
	ClientID        string  `json:"client_id"`
	CurrentOffset   int64   `json:"current_offset"`
	LogEndOffset    int64   `json:"log_end_offset"`
	Lag             int64   `json:"lag"`
}

// lags computes a group's lag per partition, sorted by topic and
// partition, on the topics the caller may see: another tenant's topics
// (their partitions and high watermarks) are left out, even when the
// group committed offsets on them. A group Kafka does not know is 404.
func (a *api) lags(ctx context.Context, l links, id string) ([]lagData, error) {
	if _, err := a.group(ctx, id); err != nil {
		return nil, err
	}
	dls, err := a.kc.Admin().Lag(ctx, id)
	if err != nil {
		return nil, err
	}
	dl, ok := dls[id]
	if !ok {
		return nil, errGroupNotFound(id)
	}
	if err := dl.Error(); err != nil {
		return nil, err
	}
	out := []lagData{}
	seen := map[string]bool{}
	for _, ml := range dl.Lag.Sorted() {
		if ml.Err != nil {
			continue
		}
		ok, known := seen[ml.Topic]
		if !known {
			ok = a.visible(ctx, ml.Topic)
			seen[ml.Topic] = ok
		}
		if !ok {
			continue
		}
		ps := strconv.Itoa(int(ml.Partition))
		d := lagData{
			Kind: "KafkaConsumerLag",
			Metadata: meta{
				Self:         l.url("consumer-groups", id, "lags", ml.Topic, "partitions", ps),
				ResourceName: l.crn("consumer-group", id, "lag", ml.Topic, "partition", ps),
			},
			ClusterID: l.cid, ConsumerGroupID: id, TopicName: ml.Topic, PartitionID: ml.Partition,
			CurrentOffset: ml.Commit.At, LogEndOffset: ml.End.Offset, Lag: ml.Lag,
		}
		if ml.Member != nil {
			d.ConsumerID, d.InstanceID, d.ClientID = ml.Member.MemberID, ml.Member.InstanceID, ml.Member.ClientID
		}
		out = append(out, d)
	}
	return out, nil
}

func (a *api) listLags(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	id := r.PathValue("consumer_group_id")
	ls, err := a.lags(r.Context(), l, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList("KafkaConsumerLagList", l.url("consumer-groups", id, "lags"), ls))
}

func (a *api) getLag(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	p, err := partitionParam(r)
	if err != nil {
		return err
	}
	id, t := r.PathValue("consumer_group_id"), r.PathValue("topic_name")
	ls, err := a.lags(r.Context(), l, id)
	if err != nil {
		return err
	}
	for _, d := range ls {
		if d.TopicName == t && d.PartitionID == p {
			return writeJSON(w, http.StatusOK, d)
		}
	}
	return httpapi.ErrNotFound.Msg("Consumer group %s has no lag for %s/%d.", truncate(id, 255), truncate(t, 255), p)
}

type lagSummaryData struct {
	Kind              string  `json:"kind"`
	Metadata          meta    `json:"metadata"`
	ClusterID         string  `json:"cluster_id"`
	ConsumerGroupID   string  `json:"consumer_group_id"`
	MaxLagConsumerID  string  `json:"max_lag_consumer_id"`
	MaxLagInstanceID  *string `json:"max_lag_instance_id,omitempty"`
	MaxLagClientID    string  `json:"max_lag_client_id"`
	MaxLagTopicName   string  `json:"max_lag_topic_name"`
	MaxLagPartitionID int32   `json:"max_lag_partition_id"`
	MaxLag            int64   `json:"max_lag"`
	TotalLag          int64   `json:"total_lag"`
	MaxLagConsumer    *rel    `json:"max_lag_consumer,omitempty"`
	MaxLagPartition   *rel    `json:"max_lag_partition,omitempty"`
}

func (a *api) lagSummary(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	id := r.PathValue("consumer_group_id")
	ls, err := a.lags(r.Context(), l, id)
	if err != nil {
		return err
	}
	s := lagSummaryData{
		Kind:            "KafkaConsumerGroupLagSummary",
		Metadata:        meta{Self: l.url("consumer-groups", id, "lag-summary"), ResourceName: l.crn("consumer-group", id, "lag-summary")},
		ClusterID:       l.cid,
		ConsumerGroupID: id,
	}
	var max *lagData
	for i := range ls {
		if ls[i].Lag > 0 {
			s.TotalLag += ls[i].Lag
		}
		if max == nil || ls[i].Lag > max.Lag {
			max = &ls[i]
		}
	}
	if max != nil {
		s.MaxLagConsumerID, s.MaxLagInstanceID, s.MaxLagClientID = max.ConsumerID, max.InstanceID, max.ClientID
		s.MaxLagTopicName, s.MaxLagPartitionID, s.MaxLag = max.TopicName, max.PartitionID, max.Lag
		s.MaxLagPartition = &rel{l.url("topics", max.TopicName, "partitions", strconv.Itoa(int(max.PartitionID)))}
		if max.ConsumerID != "" {
			s.MaxLagConsumer = &rel{l.url("consumer-groups", id, "consumers", max.ConsumerID)}
		}
	}
	return writeJSON(w, http.StatusOK, s)
}
