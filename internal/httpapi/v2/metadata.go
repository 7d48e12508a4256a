package v2

import (
	"errors"
	"net/http"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
)

// negotiateMetadata sets the response type of a metadata endpoint from
// Accept, or fails with 406.
func negotiateMetadata(w http.ResponseWriter, r *http.Request) (string, error) {
	ct := httpapi.Negotiate(r.Header.Get("Accept"), metadataOffers)
	if ct == "" {
		return "", httpapi.ErrNotAcceptable
	}
	w.Header().Set("Content-Type", ct)
	return ct, nil
}

type partitionJSON struct {
	Partition int32         `json:"partition"`
	Leader    int32         `json:"leader"`
	Replicas  []replicaJSON `json:"replicas"`
}

type replicaJSON struct {
	Broker int32 `json:"broker"`
	Leader bool  `json:"leader"`
	InSync bool  `json:"in_sync"`
}

func partitionOf(d kadm.PartitionDetail) partitionJSON {
	isr := map[int32]bool{}
	for _, b := range d.ISR {
		isr[b] = true
	}
	p := partitionJSON{Partition: d.Partition, Leader: d.Leader, Replicas: []replicaJSON{}}
	for _, b := range d.Replicas {
		p.Replicas = append(p.Replicas, replicaJSON{Broker: b, Leader: b == d.Leader, InSync: isr[b]})
	}
	return p
}

type metadata struct {
	kc *kafka.Client
}

// topicDetail loads one topic's metadata; a missing topic is 40403, as on
// Confluent's GET /topics/{t}.
func (m metadata) topicDetail(r *http.Request, topic string) (kadm.TopicDetail, error) {
	td, err := m.kc.Topic(r.Context(), topic)
	if errors.Is(err, kafka.ErrUnknownTopic) {
		return kadm.TopicDetail{}, httpapi.ErrUnknownTopicPart
	}
	return td, err
}

// partitionParam parses {partition}; a non-number cannot match a route on
// Confluent (Jersey answers 404), nor here.
func partitionParam(r *http.Request) (int32, error) {
	p, err := strconv.ParseInt(r.PathValue("partition"), 10, 32)
	if err != nil || p < 0 {
		return 0, httpapi.ErrNotFound
	}
	return int32(p), nil
}

func (m metadata) listTopics(w http.ResponseWriter, r *http.Request) error {
	ct, err := negotiateMetadata(w, r)
	if err != nil {
		return err
	}
	tds, err := m.kc.Metadata(r.Context())
	if err != nil {
		return err
	}
	names := []string{}
	for _, td := range tds {
		if !td.IsInternal && td.Err == nil && auth.Sees(r.Context(), auth.ScopeTopic, td.Topic) {
			names = append(names, td.Topic)
		}
	}
	sort.Strings(names)
	httpapi.WriteJSON(w, http.StatusOK, ct, names)
	return nil
}

type topicJSON struct {
	Name       string             `json:"name"`
	Configs    map[string]*string `json:"configs"`
	Partitions []partitionJSON    `json:"partitions"`
}

func (m metadata) getTopic(w http.ResponseWriter, r *http.Request) error {
	ct, err := negotiateMetadata(w, r)
	if err != nil {
		return err
	}
	topic := r.PathValue("topic")
	td, err := m.topicDetail(r, topic)
	if err != nil {
		return err
	}
	out := topicJSON{Name: topic, Configs: map[string]*string{}, Partitions: []partitionJSON{}}
	rcs, err := m.kc.Admin().DescribeTopicConfigs(r.Context(), topic)
	if err == nil {
		if rc, err := rcs.On(topic, nil); err == nil && rc.Err == nil {
			for _, c := range rc.Configs {
				if c.Sensitive {
					out.Configs[c.Key] = nil
					continue
				}
				out.Configs[c.Key] = c.Value
			}
		}
	}
	for _, p := range td.Partitions.Sorted() {
		out.Partitions = append(out.Partitions, partitionOf(p))
	}
	httpapi.WriteJSON(w, http.StatusOK, ct, out)
	return nil
}

func (m metadata) listPartitions(w http.ResponseWriter, r *http.Request) error {
	ct, err := negotiateMetadata(w, r)
	if err != nil {
		return err
	}
	td, err := m.topicDetail(r, r.PathValue("topic"))
	if err != nil {
		return err
	}
	out := []partitionJSON{}
	for _, p := range td.Partitions.Sorted() {
		out = append(out, partitionOf(p))
	}
	httpapi.WriteJSON(w, http.StatusOK, ct, out)
	return nil
}

func (m metadata) partitionDetail(r *http.Request) (kadm.PartitionDetail, error) {
	p, err := partitionParam(r)
	if err != nil {
		return kadm.PartitionDetail{}, err
	}
	pd, err := m.kc.Partition(r.Context(), r.PathValue("topic"), p)
	if errors.Is(err, kafka.ErrUnknownTopic) {
		return kadm.PartitionDetail{}, httpapi.ErrUnknownTopicPart
	}
	return pd, err // ErrUnknownPartition is 40402
}

func (m metadata) getPartition(w http.ResponseWriter, r *http.Request) error {
	ct, err := negotiateMetadata(w, r)
	if err != nil {
		return err
	}
	pd, err := m.partitionDetail(r)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ct, partitionOf(pd))
	return nil
}

func (m metadata) partitionOffsets(w http.ResponseWriter, r *http.Request) error {
	ct, err := negotiateMetadata(w, r)
	if err != nil {
		return err
	}
	pd, err := m.partitionDetail(r)
	if err != nil {
		return err
	}
	start, err := m.kc.ListOffset(r.Context(), pd.Topic, pd.Partition, kafka.OffsetEarliest)
	if err != nil {
		return err
	}
	end, err := m.kc.ListOffset(r.Context(), pd.Topic, pd.Partition, kafka.OffsetLatest)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, ct, map[string]int64{"beginning_offset": start, "end_offset": end})
	return nil
}

func (m metadata) brokers(w http.ResponseWriter, r *http.Request) error {
	ct, err := negotiateMetadata(w, r)
	if err != nil {
		return err
	}
	md, err := m.kc.Admin().BrokerMetadata(r.Context())
	if err != nil {
		return err
	}
	ids := []int32{}
	for _, b := range md.Brokers {
		ids = append(ids, b.NodeID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	httpapi.WriteJSON(w, http.StatusOK, ct, map[string][]int32{"brokers": ids})
	return nil
}

// root answers GET / and POST / with {} (Confluent's liveness check).
func root(w http.ResponseWriter, r *http.Request) error {
	ct, err := negotiateMetadata(w, r)
	if err != nil {
		return err
	}
	if r.Method == http.MethodPost {
		if _, err := httpapi.ReadBody(r); err != nil {
			return err
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, ct, struct{}{})
	return nil
}
