// Package consumer is kgate's handler runtime: a Kafka consumer-group
// worker that hands every record to a Handler, in order per partition and
// in parallel across partitions, and commits a record's offset only after
// the record was handled (its outputs acknowledged by Kafka) or
// dead-lettered. It follows franz-go's goroutine-per-partition examples
// with mark-then-commit: each partition has one worker goroutine that
// marks what it finished, and one committer commits the marks.
//
// Failures are retried with exponential backoff and jitter up to a limit;
// then, or at once for malformed records and permanent errors, the record
// goes to a dead-letter topic with headers saying why, where it came from
// and which handler failed. Replay sends dead letters back to their origin
// topic.
//
// The package also holds the generic built-in handlers: Exec (a command
// per record) and Webhook (an HTTP POST per record).
package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Handler handles one record. It is called from several goroutines at
// once (one per partition) and must be safe for concurrent use. It returns
// the output records to publish (possibly none) or an error; errors are
// retried unless they are marked Malformed or Permanent.
//
// ctx is canceled when the handling is abandoned (the partition was
// revoked or the worker stops and the grace period ran out) or the
// attempt's timeout passed.
type Handler interface {
	Handle(ctx context.Context, r *kgo.Record) ([]Output, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, r *kgo.Record) ([]Output, error)

// Handle implements Handler.
func (f HandlerFunc) Handle(ctx context.Context, r *kgo.Record) ([]Output, error) { return f(ctx, r) }

// Output is a record a handler produces. The runtime publishes it to the
// output topic keyed by the input record's key, adding origin headers.
type Output struct {
	Value   []byte
	Headers []kgo.RecordHeader
}

// Reasons a record is dead-lettered, the value of the reason header.
const (
	ReasonMalformed = "malformed" // the record cannot be parsed
	ReasonPermanent = "permanent" // the handler said retrying cannot help
	ReasonExhausted = "exhausted" // every attempt failed
	ReasonPanic     = "panic"     // the handler panicked
)

type classified struct {
	reason string // ReasonMalformed or ReasonPermanent; "" retryable
	after  time.Duration
	err    error
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

// Malformed marks err as a malformed record: it is dead-lettered at once.
func Malformed(err error) error {
	if err == nil {
		return nil
	}
	return &classified{reason: ReasonMalformed, err: err}
}

// Permanent marks err as one that retrying cannot fix: the record is
// dead-lettered at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &classified{reason: ReasonPermanent, err: err}
}

// RetryAfter marks err as retryable no sooner than after d (an HTTP 429's
// Retry-After, say). The runtime waits the longer of d and its own
// backoff, capped at the backoff's maximum.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &classified{after: d, err: err}
}

// classify returns the dead-letter reason for an error that must not be
// retried ("" when it may be), and any retry-after hint.
func classify(err error) (reason string, after time.Duration) {
	var c *classified
	if errors.As(err, &c) {
		return c.reason, c.after
	}
	return "", 0
}

// panicError is a recovered handler panic.
type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprintf("handler panicked: %v", p.v) }

// Reason returns the dead-letter reason err carries (ReasonMalformed or
// ReasonPermanent), or "" for an error the runtime retries.
func Reason(err error) string {
	r, _ := classify(err)
	return r
}
