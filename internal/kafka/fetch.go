package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Special timestamps for ListOffset.
const (
	// OffsetLatest asks for the next offset to be written (the end).
	OffsetLatest int64 = -1
	// OffsetEarliest asks for the first offset still in the log.
	OffsetEarliest int64 = -2
)

// partitionLeader finds the leader of topic/partition and the topic's id
// from fresh metadata. It returns ErrUnknownTopic or ErrUnknownPartition.
func (c *Client) partitionLeader(ctx context.Context, topic string, partition int32) (int32, [16]byte, error) {
	td, err := c.Topic(ctx, topic)
	if err != nil {
		return 0, [16]byte{}, err
	}
	pd, ok := td.Partitions[partition]
	if !ok {
		return 0, [16]byte{}, ErrUnknownPartition
	}
	if pd.Err != nil {
		return 0, [16]byte{}, pd.Err
	}
	if pd.Leader < 0 {
		return 0, [16]byte{}, kerr.LeaderNotAvailable
	}
	return pd.Leader, td.ID, nil
}

// ListOffset resolves an offset of one partition: OffsetLatest,
// OffsetEarliest, or a timestamp in milliseconds (the first offset whose
// record is at or after it; -1 when there is none).
func (c *Client) ListOffset(ctx context.Context, topic string, partition int32, timestamp int64) (int64, error) {
	leader, _, err := c.partitionLeader(ctx, topic, partition)
	if err != nil {
		return 0, err
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.Timestamp = timestamp
	rp.CurrentLeaderEpoch = -1
	rp.MaxNumOffsets = 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := c.cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("listing offsets of %s/%d: %w", topic, partition, err)
	}
	resp := kresp.(*kmsg.ListOffsetsResponse)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return 0, err
			}
			return p.Offset, nil
		}
	}
	return 0, ErrUnknownPartition
}

// FetchOptions bound one fetch.
type FetchOptions struct {
	// MaxWait is how long the broker may wait for MinBytes.
	MaxWait time.Duration
	// MinBytes is how much data the broker waits for (at most MaxWait).
	MinBytes int32
	// MaxBytes caps the data returned (the broker still returns a first
	// record larger than this, as Kafka does, so that a fetch progresses).
	MaxBytes int32
}

// Fetched is the answer of FetchPartition.
type Fetched struct {
	Records        []*kgo.Record
	HighWatermark  int64
	LogStartOffset int64
}

// FetchPartition reads records of one partition from offset, without a
// consumer group and without a fetch session: one Fetch request to the
// partition's leader, long-polling up to o.MaxWait.
func (c *Client) FetchPartition(ctx context.Context, topic string, partition int32, offset int64, o FetchOptions) (Fetched, error) {
	leader, id, err := c.partitionLeader(ctx, topic, partition)
	if err != nil {
		return Fetched{}, err
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(o.MaxWait / time.Millisecond)
	req.MinBytes = o.MinBytes
	req.MaxBytes = o.MaxBytes
	req.IsolationLevel = 0
	req.SessionID = 0
	req.SessionEpoch = -1 // no fetch session
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	ft.TopicID = id // newer versions address topics by id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition = partition
	fp.CurrentLeaderEpoch = -1
	fp.FetchOffset = offset
	fp.LogStartOffset = -1
	fp.PartitionMaxBytes = o.MaxBytes
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)

	kresp, err := c.cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		return Fetched{}, fmt.Errorf("fetching %s/%d: %w", topic, partition, err)
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return Fetched{}, err
	}
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			rp := &t.Partitions[j]
			if rp.Partition != partition {
				continue
			}
			fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
				Offset:    offset,
				Topic:     topic,
				Partition: partition,
			}, rp, kgo.DefaultDecompressor(), nil)
			if fp.Err != nil {
				return Fetched{}, fp.Err
			}
			return Fetched{Records: fp.Records, HighWatermark: fp.HighWatermark, LogStartOffset: fp.LogStartOffset}, nil
		}
	}
	return Fetched{}, ErrUnknownPartition
}
