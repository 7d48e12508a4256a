package push

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kgate/kgate/internal/kafka"
)

// From names where a stream starts in partitions no other rule places.
type From string

// The start rules.
const (
	FromEarliest From = "earliest"
	FromLatest   From = "latest"
)

// Start is where a stream begins. The first that applies to a partition
// wins: Resume (a vector the client got from an earlier stream), Offsets,
// Timestamp (the first record at or after it; the end where there is
// none), From.
type Start struct {
	Resume    Position
	Offsets   map[int32]int64
	Timestamp *time.Time
	From      From
}

// ParseFrom parses the from parameter ("" is latest).
func ParseFrom(s string) (From, error) {
	switch f := From(strings.ToLower(s)); f {
	case "":
		return FromLatest, nil
	case FromEarliest, FromLatest:
		return f, nil
	}
	return "", positionErr("from must be earliest or latest, got %q", truncate(s, 32))
}

// ParseOffsets parses "0:15,2:7" (partition:offset, comma-separated).
func ParseOffsets(s string) (map[int32]int64, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxPartitions {
		return nil, positionErr("too many offsets")
	}
	m := make(map[int32]int64, len(parts))
	for _, kv := range parts {
		ps, os, ok := strings.Cut(strings.TrimSpace(kv), ":")
		p, perr := strconv.ParseInt(ps, 10, 32)
		o, oerr := strconv.ParseInt(os, 10, 64)
		if !ok || perr != nil || oerr != nil || p < 0 || o < 0 {
			return nil, positionErr("offsets must be partition:offset pairs separated by commas (0:15,2:7), got %q", truncate(kv, 32))
		}
		if _, dup := m[int32(p)]; dup {
			return nil, positionErr("partition %d named twice in offsets", p)
		}
		m[int32(p)] = o
	}
	return m, nil
}

// ParseTimestamp parses an RFC 3339 time or milliseconds since the epoch.
func ParseTimestamp(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		t := time.UnixMilli(ms)
		return &t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, positionErr("timestamp must be RFC 3339 (2026-12-07T18:00:00Z) or milliseconds since the epoch, got %q", truncate(s, 40))
	}
	return &t, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// bounds are a partition's first and next offsets.
type bounds struct{ start, end int64 }

// Resolve turns s into a Position for every one of the topic's
// partitions, asking the cluster for the offsets it needs. A position
// past a partition's end, or naming a partition the topic does not have,
// is a *PositionError; one before a partition's start (records deleted
// by retention) starts at its start. Partitions a resumed vector does not
// name (added since) start at their earliest.
func Resolve(ctx context.Context, kc *kafka.Client, topic string, s Start) (Position, error) {
	td, err := kc.Topic(ctx, topic)
	if err != nil {
		return nil, err
	}
	n := int32(len(td.Partitions))
	if int32(len(s.Resume)) > n {
		return nil, positionErr("the position vector names %d partitions, the topic has %d", len(s.Resume), n)
	}
	for p := range s.Offsets {
		if p >= n {
			return nil, positionErr("partition %d does not exist: the topic has %d", p, n)
		}
	}
	adm := kc.Admin()
	b := make([]bounds, n)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing start offsets of %q: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of %q: %w", topic, err)
	}
	fill := func(ls kadm.ListedOffsets, set func(*bounds, int64)) {
		ls.Each(func(o kadm.ListedOffset) {
			if o.Partition >= 0 && o.Partition < n {
				set(&b[o.Partition], o.Offset)
			}
		})
	}
	fill(starts, func(x *bounds, o int64) { x.start = o })
	fill(ends, func(x *bounds, o int64) { x.end = o })
	var at map[int32]int64
	if s.Timestamp != nil {
		ls, err := adm.ListOffsetsAfterMilli(ctx, s.Timestamp.UnixMilli(), topic)
		if err == nil {
			err = ls.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("listing offsets of %q after %s: %w", topic, s.Timestamp, err)
		}
		at = map[int32]int64{}
		ls.Each(func(o kadm.ListedOffset) { at[o.Partition] = o.Offset })
	}
	pos := make(Position, n)
	for p := int32(0); p < n; p++ {
		bd := b[p]
		var o int64
		explicit := false
		switch off, ok := s.Offsets[p]; {
		case int(p) < len(s.Resume):
			o, explicit = s.Resume[p], true
		case s.Resume != nil:
			o = bd.start // added since the vector was made: nothing of it was read
		case ok:
			o, explicit = off, true
		case at != nil:
			o = bd.end
			if t, ok := at[p]; ok && t >= 0 {
				o = t
			}
		case s.From == FromEarliest:
			o = bd.start
		default:
			o = bd.end
		}
		if explicit && o > bd.end {
			return nil, positionErr("offset %d of partition %d is past its end (%d)", o, p, bd.end)
		}
		pos[p] = max(o, bd.start)
	}
	return pos, nil
}
