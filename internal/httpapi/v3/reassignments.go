package v3

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kgate/kgate/internal/httpapi"
)

type reassignmentData struct {
	Kind             string  `json:"kind"`
	Metadata         meta    `json:"metadata"`
	ClusterID        string  `json:"cluster_id"`
	TopicName        string  `json:"topic_name"`
	PartitionID      int32   `json:"partition_id"`
	AddingReplicas   []int32 `json:"adding_replicas"`
	RemovingReplicas []int32 `json:"removing_replicas"`
	Replicas         rel     `json:"replicas"`
}

// reassignments lists the ongoing replica reassignments (of topic only,
// when given), sorted.
func (a *api) reassignments(r *http.Request, l links, topic string) ([]reassignmentData, error) {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.TimeoutMillis = 30000
	req.Topics = nil // all of them; filtered below
	resp, err := req.RequestWith(r.Context(), a.kc.Kgo())
	if err != nil {
		return nil, err
	}
	if err := kafkaErr(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return nil, err
	}
	out := []reassignmentData{}
	for _, t := range resp.Topics {
		if topic != "" && t.Topic != topic {
			continue
		}
		for _, p := range t.Partitions {
			ps := strconv.Itoa(int(p.Partition))
			out = append(out, reassignmentData{
				Kind: "KafkaReassignment",
				Metadata: meta{
					Self:         l.url("topics", t.Topic, "partitions", ps, "reassignment"),
					ResourceName: l.crn("topic", t.Topic, "partition", ps, "reassignment"),
				},
				ClusterID: l.cid, TopicName: t.Topic, PartitionID: p.Partition,
				AddingReplicas: nonNil(p.AddingReplicas), RemovingReplicas: nonNil(p.RemovingReplicas),
				Replicas: rel{l.url("topics", t.Topic, "partitions", ps, "replicas")},
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].TopicName != out[j].TopicName {
			return out[i].TopicName < out[j].TopicName
		}
		return out[i].PartitionID < out[j].PartitionID
	})
	return out, nil
}

func nonNil(xs []int32) []int32 {
	if xs == nil {
		return []int32{}
	}
	return xs
}

// allReassignments answers GET /topics/-/partitions/-/reassignment.
func (a *api) allReassignments(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	data, err := a.reassignments(r, l, "")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList("KafkaReassignmentList", l.url("topics", "-", "partitions", "-", "reassignment"), data))
}

// topicReassignments answers GET /topics/{t}/partitions/-/reassignment.
func (a *api) topicReassignments(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	td, err := a.topic(r.Context(), r.PathValue("topic_name"))
	if err != nil {
		return err
	}
	data, err := a.reassignments(r, l, td.Topic)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList("KafkaReassignmentList", l.url("topics", td.Topic, "partitions", "-", "reassignment"), data))
}

// partitionReassignment answers GET /topics/{t}/partitions/{p}/reassignment:
// 404 when none is ongoing, as Confluent.
func (a *api) partitionReassignment(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	pd, err := a.partition(r)
	if err != nil {
		return err
	}
	data, err := a.reassignments(r, l, pd.Topic)
	if err != nil {
		return err
	}
	for _, d := range data {
		if d.PartitionID == pd.Partition {
			return writeJSON(w, http.StatusOK, d)
		}
	}
	return httpapi.ErrNotFound.Msg("No reassignment of %s/%d is in progress.", pd.Topic, pd.Partition)
}
