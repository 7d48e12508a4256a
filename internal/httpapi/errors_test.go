package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/kafka"
)

// TestCatalog pins every catalog entry's status and code to Confluent's
// (reference/confluent-rest.md §3).
func TestCatalog(t *testing.T) {
	cases := []struct {
		err          *Error
		status, code int
	}{
		{ErrBadRequest, 400, 400},
		{ErrKafkaBadRequest, 400, 40002},
		{ErrUnauthenticated, 401, 40101},
		{ErrForbidden, 403, 40301},
		{ErrNotFound, 404, 404},
		{ErrTopicNotFound, 404, 40401},
		{ErrPartitionNotFound, 404, 40402},
		{ErrConsumerNotFound, 404, 40403},
		{ErrUnknownTopicPart, 404, 40403},
		{ErrMethodNotAllowed, 405, 405},
		{ErrNotAcceptable, 406, 406},
		{ErrFormatMismatch, 406, 40601},
		{ErrRequestTimeout, 408, 408},
		{ErrStreamPosition, 400, 40011},
		{ErrSerialization, 408, 40801},
		{ErrConsumerExists, 409, 40902},
		{ErrIllegalState, 409, 40903},
		{ErrTooLarge, 413, 413},
		{ErrUnsupportedMediaType, 415, 415},
		{ErrUnprocessable, 422, 422},
		{ErrConsumerConfig, 422, 40001},
		{ErrInvalidConsumerConf, 422, 42204},
		{ErrNoSchemaRegistry, 422, 42206},
		{ErrPayload, 422, 42206},
		{ErrBatchInvalid, 422, 42208},
		{ErrRateLimited, 429, 429},
		{ErrKafkaThrottled, 429, 42901},
		{ErrInternal, 500, 500},
		{ErrKafka, 500, 50002},
		{ErrKafkaRetriable, 500, 50003},
		{ErrBrokerNotAvailable, 503, 50302},
		{ErrShuttingDown, 503, 503},
		{ErrOverloaded, 503, 503},
		{ErrBusy, 503, 503},
		{ErrMoving, 503, 503},
		{ErrTimeout, 504, 504},
		{ErrSubjectNotFound, 404, 40401},
		{ErrVersionNotFound, 404, 40402},
		{ErrSchemaNotFound, 404, 40403},
		{ErrSubjectSoftDeleted, 404, 40404},
		{ErrSubjectNotSoftDeleted, 404, 40405},
		{ErrVersionSoftDeleted, 404, 40406},
		{ErrVersionNotSoftDeleted, 404, 40407},
		{ErrSubjectConfigNotFound, 404, 40408},
		{ErrSubjectModeNotFound, 404, 40409},
		{ErrIncompatibleSchema, 409, 409},
		{ErrInvalidSchema, 422, 42201},
		{ErrInvalidVersion, 422, 42202},
		{ErrInvalidCompatibility, 422, 42203},
		{ErrInvalidMode, 422, 42204},
		{ErrOperationNotPermitted, 422, 42205},
		{ErrReferenceExists, 422, 42206},
		{ErrSchemaStore, 500, 50001},
		{ErrSchemaStoreTimeout, 500, 50002},
	}
	for _, c := range cases {
		if c.err.Status != c.status || c.err.Code != c.code || c.err.Message == "" {
			t.Errorf("%q: status %d code %d, want %d %d with a message", c.err.Message, c.err.Status, c.err.Code, c.status, c.code)
		}
	}
	// Messages clients match on (Confluent's texts).
	for _, c := range []struct {
		err *Error
		msg string
	}{
		{ErrPayload, "Payload error. Request body is empty. Data is required."},
		{ErrUnknownTopicPart, "This server does not host this topic-partition."},
	} {
		if c.err.Message != c.msg {
			t.Errorf("message %q, want %q", c.err.Message, c.msg)
		}
	}
	if ErrConsumerNotFound.Message != "Consumer instance not found." {
		t.Errorf("consumer-not-found message %q differs from Confluent's", ErrConsumerNotFound.Message)
	}
}

// TestFromKafka pins the one Kafka-to-wire mapping.
func TestFromKafka(t *testing.T) {
	cases := []struct {
		err  error
		code int
	}{
		{kafka.ErrUnknownTopic, 40401},
		{fmt.Errorf("wrapped: %w", kafka.ErrUnknownPartition), 40402},
		{kerr.UnknownTopicOrPartition, 40403},
		{kerr.TopicAuthorizationFailed, 40301},
		{kerr.GroupAuthorizationFailed, 40301},
		{kerr.SaslAuthenticationFailed, 40101},
		{kerr.MessageTooLarge, 413},
		{kerr.TopicAlreadyExists, 40002},
		{kerr.InvalidPartitions, 40002},
		{kerr.PolicyViolation, 40002},
		{kerr.OffsetOutOfRange, 40002},
		{kerr.ThrottlingQuotaExceeded, 42901},
		{kerr.BrokerNotAvailable, 50302},
		{kerr.NotLeaderForPartition, 50003},
		{kerr.RequestTimedOut, 50003},
		{kgo.ErrRecordTimeout, 50003},
		{context.DeadlineExceeded, 50003},
		{kerr.CorruptMessage, 50003},
		{kerr.InvalidRequiredAcks, 50002},
		{kgo.ErrClientClosed, 50302},
		{errors.New("something else"), 50002},
		{ErrConsumerNotFound, 40403},
	}
	for _, c := range cases {
		if got := FromKafka(c.err); got.Code != c.code {
			t.Errorf("FromKafka(%v) = %d (%s), want %d", c.err, got.Code, got.Message, c.code)
		}
	}
	if FromKafka(nil) != nil {
		t.Error("FromKafka(nil) != nil")
	}
	// What the client sees never contains the private cause.
	he := FromKafka(fmt.Errorf("dial tcp 10.0.0.1:9092 with password hunter2: %w", kerr.NotLeaderForPartition))
	if want := http.StatusInternalServerError; he.Status != want {
		t.Errorf("status %d, want %d", he.Status, want)
	}
	for _, secret := range []string{"hunter2", "10.0.0.1"} {
		if contains(he.Message, secret) {
			t.Errorf("public message %q leaks %q", he.Message, secret)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestErrorIsAndWrap(t *testing.T) {
	e := ErrTopicNotFound.Msg("Topic %q not found.", "x").Wrap(errors.New("cause"))
	if !errors.Is(e, ErrTopicNotFound) {
		t.Fatal("a copy is not errors.Is its catalog entry")
	}
	if errors.Is(e, ErrPartitionNotFound) {
		t.Fatal("different entries match")
	}
	if ErrTopicNotFound.Cause != nil || ErrTopicNotFound.Message != "Topic not found." {
		t.Fatal("Msg/Wrap mutated the catalog")
	}
}

// TestCatalogEntriesAreDistinct: entries that share a status and code on
// the wire (Confluent's 40403 and 42206 each mean two things) are still
// told apart by errors.Is, so no handler has to compare codes.
func TestCatalogEntriesAreDistinct(t *testing.T) {
	pairs := [][2]*Error{{ErrConsumerNotFound, ErrUnknownTopicPart}, {ErrNoSchemaRegistry, ErrPayload}}
	for _, p := range pairs {
		if p[0].Status != p[1].Status || p[0].Code != p[1].Code {
			t.Fatalf("%v and %v no longer share their wire code; update this test", p[0], p[1])
		}
		a, b := p[0].Msg("x").Wrap(errors.New("cause")), p[1].Msg("y")
		if errors.Is(a, p[1]) || errors.Is(b, p[0]) || errors.Is(p[0], p[1]) {
			t.Errorf("%v and %v are not told apart", p[0], p[1])
		}
		if !errors.Is(a, p[0]) || !errors.Is(b.Wrap(a), p[1]) {
			t.Errorf("copies of %v and %v lost their entry", p[0], p[1])
		}
	}
}
