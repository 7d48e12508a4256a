package v3

import (
	"net/http"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
)

// topicSizesData is a kgate extension: a topic's size on disk, per
// partition and replica, from the brokers' DescribeLogDirs. The log
// directories' paths are left out: like broker configs, they say how
// the cluster is built, which is admin's to read.
type topicSizesData struct {
	Kind      string `json:"kind"`
	Metadata  meta   `json:"metadata"`
	ClusterID string `json:"cluster_id"`
	TopicName string `json:"topic_name"`
	// Size is the bytes of every replica of every partition.
	Size       int64               `json:"size"`
	Partitions []partitionSizeData `json:"partitions"`
}

type partitionSizeData struct {
	PartitionID int32 `json:"partition_id"`
	// Size is the largest replica's bytes (the partition's log).
	Size     int64             `json:"size"`
	Replicas []replicaSizeData `json:"replicas"`
}

type replicaSizeData struct {
	BrokerID int32 `json:"broker_id"`
	Size     int64 `json:"size"`
	// OffsetLag is how far the replica's log end is behind the high
	// watermark (or, for a future replica being moved, behind the
	// current one).
	OffsetLag int64 `json:"offset_lag"`
	IsFuture  bool  `json:"is_future"`
}

// topicSizes answers GET .../topics/{t}/partitions/-/sizes.
func (a *api) topicSizes(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	name := r.PathValue("topic_name")
	td, err := a.topic(r.Context(), name)
	if err != nil {
		return err
	}
	set := kadm.TopicsSet{}
	for p := range td.Partitions {
		set.Add(name, p)
	}
	dirs, err := a.kc.Admin().DescribeAllLogDirs(r.Context(), set)
	if err != nil {
		return err
	}
	byPartition := map[int32]*partitionSizeData{}
	for _, pd := range td.Partitions.Sorted() {
		byPartition[pd.Partition] = &partitionSizeData{PartitionID: pd.Partition, Replicas: []replicaSizeData{}}
	}
	out := topicSizesData{Kind: "KafkaTopicSizes", ClusterID: l.cid, TopicName: name,
		Metadata:   meta{Self: l.url("topics", name, "partitions", "-", "sizes"), ResourceName: l.crn("topic", name)},
		Partitions: []partitionSizeData{}}
	dirs.Each(func(d kadm.DescribedLogDir) {
		for _, lp := range d.Topics[name] {
			ps := byPartition[lp.Partition]
			if ps == nil {
				continue
			}
			ps.Replicas = append(ps.Replicas, replicaSizeData{BrokerID: lp.Broker, Size: lp.Size, OffsetLag: lp.OffsetLag, IsFuture: lp.IsFuture})
			ps.Size = max(ps.Size, lp.Size)
			out.Size += lp.Size
		}
	})
	for _, pd := range td.Partitions.Sorted() {
		ps := byPartition[pd.Partition]
		sort.Slice(ps.Replicas, func(i, j int) bool {
			if ps.Replicas[i].BrokerID != ps.Replicas[j].BrokerID {
				return ps.Replicas[i].BrokerID < ps.Replicas[j].BrokerID
			}
			return !ps.Replicas[i].IsFuture
		})
		out.Partitions = append(out.Partitions, *ps)
	}
	return writeJSON(w, http.StatusOK, out)
}
