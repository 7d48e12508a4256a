package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Target is a topic resolved for producing: it exists (or was just
// created, when auto-creation is on) and has Partitions partitions. Every
// HTTP API builds its records through a Target, so that they all choose
// partitions alike and share the one producer. A Target is not safe for
// concurrent use; make one per request (or per stream).
type Target struct {
	Topic      string
	Partitions int32
	part       Partitioner
	resolved   time.Time
	used       int
}

// Target resolves topic for producing. An invalid name or a missing topic
// (auto-creation off) is ErrUnknownTopic.
func (c *Client) Target(ctx context.Context, topic string) (*Target, error) {
	if !ValidTopic(topic) {
		return nil, ErrUnknownTopic
	}
	n, err := c.EnsureTopic(ctx, topic)
	if err != nil {
		return nil, err
	}
	return &Target{Topic: topic, Partitions: n, part: c.Partitioner(n), resolved: time.Now()}, nil
}

// Refresh re-resolves a long-lived target (a stream) so that it sees added
// partitions and spreads keyless records over partitions: it asks again
// after every thousand records or metadata_max_age, whichever comes first.
func (c *Client) Refresh(ctx context.Context, t *Target) error {
	t.used++
	if t.used < 1000 && (t.used%64 != 0 || time.Since(t.resolved) < c.metaMaxAge) {
		return nil
	}
	n, err := c.EnsureTopic(ctx, t.Topic)
	if err != nil {
		return err
	}
	t.Partitions, t.part, t.resolved, t.used = n, c.Partitioner(n), time.Now(), 0
	return nil
}

// Partition returns the partition for a record: the explicit one when it
// is not negative (ErrUnknownPartition when the topic has no such
// partition), else murmur2 of the key, else the target's partition for
// keyless records.
func (t *Target) Partition(explicit int32, key []byte) (int32, error) {
	if explicit >= 0 {
		if explicit >= t.Partitions {
			return 0, ErrUnknownPartition
		}
		return explicit, nil
	}
	return t.part.For(key), nil
}

// Record builds a record for the target; see Partition for how its
// partition is chosen.
func (t *Target) Record(explicit int32, key, value []byte, headers []kgo.RecordHeader, ts time.Time) (*kgo.Record, error) {
	r := new(kgo.Record)
	if err := t.Fill(r, explicit, key, value, headers, ts); err != nil {
		return nil, err
	}
	return r, nil
}

// Fill is Record into a record the caller owns and reuses (once the
// producer has answered it: franz-go does not touch a record after its
// promise returns).
func (t *Target) Fill(r *kgo.Record, explicit int32, key, value []byte, headers []kgo.RecordHeader, ts time.Time) error {
	p, err := t.Partition(explicit, key)
	if err != nil {
		return err
	}
	*r = kgo.Record{Topic: t.Topic, Partition: p, Key: key, Value: value, Headers: headers, Timestamp: ts}
	return nil
}
