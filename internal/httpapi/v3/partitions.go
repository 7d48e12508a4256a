package v3

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
)

type partitionData struct {
	Kind         string `json:"kind"`
	Metadata     meta   `json:"metadata"`
	ClusterID    string `json:"cluster_id"`
	TopicName    string `json:"topic_name"`
	PartitionID  int32  `json:"partition_id"`
	Leader       *rel   `json:"leader,omitempty"`
	Replicas     rel    `json:"replicas"`
	Reassignment rel    `json:"reassignment"`
}

func (l links) partitionData(p kadm.PartitionDetail) partitionData {
	ps := strconv.Itoa(int(p.Partition))
	d := partitionData{
		Kind:         "KafkaPartition",
		Metadata:     meta{Self: l.url("topics", p.Topic, "partitions", ps), ResourceName: l.crn("topic", p.Topic, "partition", ps)},
		ClusterID:    l.cid,
		TopicName:    p.Topic,
		PartitionID:  p.Partition,
		Replicas:     rel{l.url("topics", p.Topic, "partitions", ps, "replicas")},
		Reassignment: rel{l.url("topics", p.Topic, "partitions", ps, "reassignment")},
	}
	if p.Leader >= 0 {
		d.Leader = &rel{l.url("topics", p.Topic, "partitions", ps, "replicas", strconv.Itoa(int(p.Leader)))}
	}
	return d
}

type replicaData struct {
	Kind        string `json:"kind"`
	Metadata    meta   `json:"metadata"`
	ClusterID   string `json:"cluster_id"`
	TopicName   string `json:"topic_name"`
	PartitionID int32  `json:"partition_id"`
	BrokerID    int32  `json:"broker_id"`
	IsLeader    bool   `json:"is_leader"`
	IsInSync    bool   `json:"is_in_sync"`
	Broker      rel    `json:"broker"`
}

func (l links) replicaData(p kadm.PartitionDetail, broker int32) replicaData {
	ps, bs := strconv.Itoa(int(p.Partition)), strconv.Itoa(int(broker))
	inSync := false
	for _, b := range p.ISR {
		if b == broker {
			inSync = true
		}
	}
	return replicaData{
		Kind:        "KafkaReplica",
		Metadata:    meta{Self: l.url("topics", p.Topic, "partitions", ps, "replicas", bs), ResourceName: l.crn("topic", p.Topic, "partition", ps, "replica", bs)},
		ClusterID:   l.cid,
		TopicName:   p.Topic,
		PartitionID: p.Partition,
		BrokerID:    broker,
		IsLeader:    p.Leader == broker,
		IsInSync:    inSync,
		Broker:      rel{l.url("brokers", bs)},
	}
}

// partitionParam parses {partition_id}; a non-number is 404, as a route
// that does not match.
func partitionParam(r *http.Request) (int32, error) {
	p, err := strconv.ParseInt(r.PathValue("partition_id"), 10, 32)
	if err != nil || p < 0 {
		return 0, httpapi.ErrPartitionNotFound
	}
	return int32(p), nil
}

// partition resolves {topic_name}/{partition_id}.
func (a *api) partition(r *http.Request) (kadm.PartitionDetail, error) {
	p, err := partitionParam(r)
	if err != nil {
		return kadm.PartitionDetail{}, err
	}
	td, err := a.topic(r.Context(), r.PathValue("topic_name"))
	if err != nil {
		return kadm.PartitionDetail{}, err
	}
	pd, ok := td.Partitions[p]
	if !ok {
		return kadm.PartitionDetail{}, httpapi.ErrPartitionNotFound
	}
	return pd, nil
}

func (a *api) listPartitions(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	name := r.PathValue("topic_name")
	td, err := a.topic(r.Context(), name)
	if err != nil {
		return err
	}
	data := []partitionData{}
	for _, p := range td.Partitions.Sorted() {
		data = append(data, l.partitionData(p))
	}
	return writeJSON(w, http.StatusOK, newList("KafkaPartitionList", l.url("topics", name, "partitions"), data))
}

func (a *api) getPartition(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	pd, err := a.partition(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l.partitionData(pd))
}

type partitionOffsetsData struct {
	Kind           string `json:"kind"`
	Metadata       meta   `json:"metadata"`
	ClusterID      string `json:"cluster_id"`
	TopicName      string `json:"topic_name"`
	PartitionID    int32  `json:"partition_id"`
	EarliestOffset int64  `json:"earliest_offset"`
	LatestOffset   int64  `json:"latest_offset"`
}

// partitionOffsets answers .../partitions/{p}/offset: the earliest and
// latest offsets (offset_type=earliest_and_latest, the only type).
func (a *api) partitionOffsets(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	ot := "earliest_and_latest"
	if q := r.URL.Query(); q.Has("offset_type") {
		ot = q.Get("offset_type")
	}
	if ot != "earliest_and_latest" {
		return httpapi.ErrBadRequest.Msg("Bad Request: offset_type:%s is invalid", truncate(ot, 64))
	}
	pd, err := a.partition(r)
	if err != nil {
		return err
	}
	earliest, err := a.kc.ListOffset(r.Context(), pd.Topic, pd.Partition, kafka.OffsetEarliest)
	if err != nil {
		return err
	}
	latest, err := a.kc.ListOffset(r.Context(), pd.Topic, pd.Partition, kafka.OffsetLatest)
	if err != nil {
		return err
	}
	ps := strconv.Itoa(int(pd.Partition))
	return writeJSON(w, http.StatusOK, partitionOffsetsData{
		Kind: "KafkaPartitionWithOffsets",
		Metadata: meta{
			Self:         l.url("topics", pd.Topic, "partitions", ps, "offset"),
			ResourceName: l.crn("topic", pd.Topic, "partition", ps, "offset_type", ot),
		},
		ClusterID: l.cid, TopicName: pd.Topic, PartitionID: pd.Partition,
		EarliestOffset: earliest, LatestOffset: latest,
	})
}

func (a *api) listReplicas(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	pd, err := a.partition(r)
	if err != nil {
		return err
	}
	data := []replicaData{}
	for _, b := range pd.Replicas {
		data = append(data, l.replicaData(pd, b))
	}
	return writeJSON(w, http.StatusOK, newList("KafkaReplicaList", l.url("topics", pd.Topic, "partitions", strconv.Itoa(int(pd.Partition)), "replicas"), data))
}

func (a *api) getReplica(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	pd, err := a.partition(r)
	if err != nil {
		return err
	}
	id, err := brokerParam(r)
	if err != nil {
		return err
	}
	for _, b := range pd.Replicas {
		if b == id {
			return writeJSON(w, http.StatusOK, l.replicaData(pd, b))
		}
	}
	return httpapi.ErrNotFound.Msg("Replica %d of %s/%d cannot be found.", id, pd.Topic, pd.Partition)
}

// brokerReplicas answers /brokers/{id}/partition-replicas: every replica
// the broker holds.
func (a *api) brokerReplicas(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	b, err := a.broker(r)
	if err != nil {
		return err
	}
	tds, err := a.kc.Metadata(r.Context())
	if err != nil {
		return err
	}
	names := make([]string, 0, len(tds))
	for n := range tds {
		names = append(names, n)
	}
	sort.Strings(names)
	data := []replicaData{}
	for _, n := range names {
		if tds[n].Err != nil {
			continue
		}
		for _, p := range tds[n].Partitions.Sorted() {
			for _, rb := range p.Replicas {
				if rb == b.NodeID {
					data = append(data, l.replicaData(p, rb))
				}
			}
		}
	}
	return writeJSON(w, http.StatusOK, newList("KafkaReplicaList", l.url("brokers", strconv.Itoa(int(b.NodeID)), "partition-replicas"), data))
}
