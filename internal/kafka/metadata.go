package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metadata asks the cluster for topic metadata, bypassing franz-go's
// metadata cache (kadm's Metadata reuses answers up to five seconds old,
// so a topic created a moment ago would still look missing). No topics
// means all topics.
func (c *Client) Metadata(ctx context.Context, topics ...string) (kadm.TopicDetails, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false // never let the broker auto-create
	if len(topics) > 0 {
		req.Topics = make([]kmsg.MetadataRequestTopic, 0, len(topics))
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, err
	}
	out := make(kadm.TopicDetails, len(resp.Topics))
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		td := kadm.TopicDetail{
			Topic:      *t.Topic,
			ID:         t.TopicID,
			IsInternal: t.IsInternal,
			Partitions: make(kadm.PartitionDetails, len(t.Partitions)),
			Err:        kerr.ErrorForCode(t.ErrorCode),
		}
		for _, p := range t.Partitions {
			td.Partitions[p.Partition] = kadm.PartitionDetail{
				Topic:           *t.Topic,
				Partition:       p.Partition,
				Leader:          p.Leader,
				LeaderEpoch:     p.LeaderEpoch,
				Replicas:        p.Replicas,
				ISR:             p.ISR,
				OfflineReplicas: p.OfflineReplicas,
				Err:             kerr.ErrorForCode(p.ErrorCode),
			}
		}
		out[*t.Topic] = td
	}
	return out, nil
}

// Topic returns one topic's fresh metadata. An invalid name or a missing
// topic is ErrUnknownTopic; every API maps that to its own answer.
func (c *Client) Topic(ctx context.Context, name string) (kadm.TopicDetail, error) {
	if !ValidTopic(name) {
		return kadm.TopicDetail{}, ErrUnknownTopic
	}
	tds, err := c.Metadata(ctx, name)
	if err != nil {
		return kadm.TopicDetail{}, err
	}
	td, ok := tds[name]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return kadm.TopicDetail{}, ErrUnknownTopic
	}
	if td.Err != nil {
		return kadm.TopicDetail{}, td.Err
	}
	return td, nil
}

// Partition returns one partition's fresh metadata: ErrUnknownTopic or
// ErrUnknownPartition when there is no such topic or partition.
func (c *Client) Partition(ctx context.Context, topic string, partition int32) (kadm.PartitionDetail, error) {
	td, err := c.Topic(ctx, topic)
	if err != nil {
		return kadm.PartitionDetail{}, err
	}
	pd, ok := td.Partitions[partition]
	if !ok {
		return kadm.PartitionDetail{}, ErrUnknownPartition
	}
	return pd, nil
}
