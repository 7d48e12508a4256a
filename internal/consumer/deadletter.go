package consumer

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header names the runtime writes. Dead letters carry the DLQ ones;
// outputs carry the origin ones (without the "dlq-" part).
const (
	HeaderDLQError           = "kgate-dlq-error"
	HeaderDLQReason          = "kgate-dlq-reason"
	HeaderDLQAttempts        = "kgate-dlq-attempts"
	HeaderDLQHandler         = "kgate-dlq-handler"
	HeaderDLQGroup           = "kgate-dlq-group"
	HeaderDLQTime            = "kgate-dlq-time"
	HeaderDLQOriginTopic     = "kgate-dlq-origin-topic"
	HeaderDLQOriginPartition = "kgate-dlq-origin-partition"
	HeaderDLQOriginOffset    = "kgate-dlq-origin-offset"
	HeaderDLQOriginTime      = "kgate-dlq-origin-timestamp"

	HeaderOriginTopic     = "kgate-origin-topic"
	HeaderOriginPartition = "kgate-origin-partition"
	HeaderOriginOffset    = "kgate-origin-offset"
	HeaderHandler         = "kgate-handler"

	// HeaderReplayedFrom is set by Replay: dlq-topic/partition/offset.
	HeaderReplayedFrom = "kgate-replayed-from"
	// HeaderReplays counts how often a record was replayed.
	HeaderReplays = "kgate-replays"
)

const dlqHeaderPrefix = "kgate-dlq-"

// maxErrorHeader bounds the error text in a dead letter.
const maxErrorHeader = 2048

// deadLetter builds the dead letter of r: its key, value and headers
// (earlier dead-letter headers dropped) plus the kgate-dlq-* headers.
func deadLetter(r *kgo.Record, topic, handler, group, reason string, attempts int, cause error, now time.Time) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+10)
	for _, h := range r.Headers {
		if !strings.HasPrefix(h.Key, dlqHeaderPrefix) {
			hs = append(hs, h)
		}
	}
	msg := "unknown error"
	if cause != nil {
		msg = truncate(cause.Error(), maxErrorHeader)
	}
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(msg)},
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderDLQAttempts, Value: []byte(strconv.Itoa(attempts))},
		kgo.RecordHeader{Key: HeaderDLQHandler, Value: []byte(handler)},
		kgo.RecordHeader{Key: HeaderDLQGroup, Value: []byte(group)},
		kgo.RecordHeader{Key: HeaderDLQTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
		kgo.RecordHeader{Key: HeaderDLQOriginTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQOriginPartition, Value: []byte(strconv.FormatInt(int64(r.Partition), 10))},
		kgo.RecordHeader{Key: HeaderDLQOriginOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderDLQOriginTime, Value: []byte(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))},
	)
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: hs, Timestamp: now}
}

// outputRecord builds the output record of o for input r.
func outputRecord(r *kgo.Record, o Output, topic, handler string) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(o.Headers)+4)
	hs = append(hs, o.Headers...)
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderOriginTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderOriginPartition, Value: []byte(strconv.FormatInt(int64(r.Partition), 10))},
		kgo.RecordHeader{Key: HeaderOriginOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderHandler, Value: []byte(handler)},
	)
	return &kgo.Record{Topic: topic, Key: r.Key, Value: o.Value, Headers: hs}
}

// Header returns the value of the last header named key, and whether
// there was one.
func Header(r *kgo.Record, key string) (string, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value), true
		}
	}
	return "", false
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
