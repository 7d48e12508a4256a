package instances

import (
	"errors"
	"fmt"
)

// The registry's and instances' errors. Besides these, operations return
// *ratelimit.Exceeded (a cap on instances or long polls, the daily byte
// quota), the owner's *auth.Error (it no longer stands) or *auth.Denial
// (it may not), and the Kafka layer's errors.
var (
	// ErrNotFound: no such instance, or not the caller's (to another
	// principal an instance does not exist).
	ErrNotFound = errors.New("consumer instance not found")
	// ErrExists: the group already has an instance of that name.
	ErrExists = errors.New("consumer instance already exists")
	// ErrClosed: the registry is shutting down.
	ErrClosed = errors.New("consumer instances are shutting down")
	// ErrDraining: this replica is shutting down and no other live one
	// can take the work now; the client retries through the load
	// balancer.
	ErrDraining = errors.New("this replica is draining")
	// ErrMoved: the instance was handed over to another replica while
	// the request waited for it; the client retries, and reaches it.
	ErrMoved = errors.New("consumer instance handed over to another replica")
	// ErrMixed: topics or a pattern and manual partitions together.
	ErrMixed = errors.New("subscription to topics, partitions and pattern are mutually exclusive")
	// ErrNotConsuming: a read before any subscription or assignment.
	ErrNotConsuming = errors.New("consumer is not subscribed to any topics or assigned any partitions")
)

// NotAssignedError is a seek on a partition the instance does not
// consume (Kafka's IllegalStateException).
type NotAssignedError struct{ Partition Partition }

func (e *NotAssignedError) Error() string {
	return fmt.Sprintf("no current assignment for partition %s-%d", e.Partition.Topic, e.Partition.Partition)
}

// PatternError is a topic_pattern that is not a valid regular expression.
type PatternError struct{ Err error }

func (e *PatternError) Error() string { return "invalid topic pattern: " + e.Err.Error() }
func (e *PatternError) Unwrap() error { return e.Err }

// UndecodableError is a record the instance's format cannot show (bytes
// that are not JSON, for a json consumer): the read stops before it, and
// a read that starts at it fails with this error, naming it.
type UndecodableError struct {
	Topic     string
	Partition int32
	Offset    int64
	// Field is the part that failed (key, value, a header), Problem what
	// is wrong with it; both may be empty.
	Field, Problem string
	Err            error
}

func (e *UndecodableError) Error() string {
	return fmt.Sprintf("record %s[%d]@%d cannot be shown in the consumer's format: %v", e.Topic, e.Partition, e.Offset, e.Err)
}
func (e *UndecodableError) Unwrap() error { return e.Err }

// ElsewhereError is an instance another live replica holds: requests
// for it go there (to URL, its internal URL).
type ElsewhereError struct{ Node, URL string }

func (e *ElsewhereError) Error() string {
	return fmt.Sprintf("consumer instance is held by replica %s", e.Node)
}
