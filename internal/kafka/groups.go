package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

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
