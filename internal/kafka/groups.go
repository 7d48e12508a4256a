package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CommitSync commits offsets (by topic and partition) as cl's group
// member and returns the first failure: the request's, or a partition's
// error code.
func CommitSync(ctx context.Context, cl *kgo.Client, offsets map[string]map[int32]kgo.EpochOffset) error {
	var cerr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
					cerr = e
				}
			}
		}
	})
	return cerr
}

// Committed returns the offsets group has committed. A group that has
// never committed has none: Apache Kafka answers OffsetFetch for it with
// no offsets, the embedded broker with GROUP_ID_NOT_FOUND, and both mean
// the same here (an empty result, not an error).
func (c *Client) Committed(ctx context.Context, group string) (kadm.OffsetResponses, error) {
	resp, err := c.adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return kadm.OffsetResponses{}, nil
	}
	return resp, err
}
