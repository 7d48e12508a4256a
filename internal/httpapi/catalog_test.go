package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/kafka"
)

// TestCatalog pins every catalog entry: HTTP status, Confluent error_code
// and public message (reference/confluent-rest.md §3).
func TestCatalog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		e      *Error
		status int
		code   int
		msg    string
	}{
		{"ErrBadRequest", ErrBadRequest, 400, 400, "Bad Request"},
		{"ErrKafkaBadRequest", ErrKafkaBadRequest, 400, 40002, "Bad Request"},
		{"ErrUnauthenticated", ErrUnauthenticated, 401, 40101, "Authentication failed."},
		{"ErrForbidden", ErrForbidden, 403, 40301, "Not authorized to access this resource."},
		{"ErrNotFound", ErrNotFound, 404, 404, "HTTP 404 Not Found"},
		{"ErrTopicNotFound", ErrTopicNotFound, 404, 40401, "Topic not found."},
		{"ErrPartitionNotFound", ErrPartitionNotFound, 404, 40402, "Partition not found."},
		{"ErrConsumerNotFound", ErrConsumerNotFound, 404, 40403, "Consumer instance not found."},
		{"ErrUnknownTopicPart", ErrUnknownTopicPart, 404, 40403, "This server does not host this topic-partition."},
		{"ErrMethodNotAllowed", ErrMethodNotAllowed, 405, 405, "HTTP 405 Method Not Allowed"},
		{"ErrNotAcceptable", ErrNotAcceptable, 406, 406, "HTTP 406 Not Acceptable"},
		{"ErrFormatMismatch", ErrFormatMismatch, 406, 40601, "The requested embedded data format does not match the deserializer for this consumer instance"},
		{"ErrRequestTimeout", ErrRequestTimeout, 408, 408, "Timed out reading the request."},
		{"ErrSerialization", ErrSerialization, 408, 40801, "Error deserializing message."},
		{"ErrConsumerExists", ErrConsumerExists, 409, 40902, "Consumer with specified consumer ID already exists in the specified consumer group."},
		{"ErrIllegalState", ErrIllegalState, 409, 40903, "Illegal state."},
		{"ErrTooLarge", ErrTooLarge, 413, 413, "Request body is too large."},
		{"ErrUnsupportedMediaType", ErrUnsupportedMediaType, 415, 415, "HTTP 415 Unsupported Media Type"},
		{"ErrUnprocessable", ErrUnprocessable, 422, 422, "Unprocessable Entity"},
		{"ErrConsumerConfig", ErrConsumerConfig, 422, 40001, "Invalid consumer configuration."},
		{"ErrInvalidConsumerConf", ErrInvalidConsumerConf, 422, 42204, "Invalid consumer configuration."},
		{"ErrNoSchemaRegistry", ErrNoSchemaRegistry, 422, 42206, "Payload error. Schema Registry must be configured when using schemas."},
		{"ErrPayload", ErrPayload, 422, 42206, "Payload error. Request body is empty. Data is required."},
		{"ErrBatchInvalid", ErrBatchInvalid, 422, 42208, "Invalid batch."},
		{"ErrRateLimited", ErrRateLimited, 429, 429, "Request rate limit exceeded."},
		{"ErrKafkaThrottled", ErrKafkaThrottled, 429, 42901, "Request throttled by Kafka quota."},
		{"ErrInternal", ErrInternal, 500, 500, "Internal Server Error"},
		{"ErrKafka", ErrKafka, 500, 50002, "Kafka error."},
		{"ErrKafkaRetriable", ErrKafkaRetriable, 500, 50003, "Kafka retriable error."},
		{"ErrBrokerNotAvailable", ErrBrokerNotAvailable, 503, 50302, "Broker not available."},
		{"ErrShuttingDown", ErrShuttingDown, 503, 503, "The gateway is shutting down."},
		{"ErrTimeout", ErrTimeout, 504, 504, "Gateway timeout."},
	} {
		if tc.e.Status != tc.status || tc.e.Code != tc.code || tc.e.Message != tc.msg || tc.e.Cause != nil {
			t.Errorf("%s = %d %d %q, want %d %d %q", tc.name, tc.e.Status, tc.e.Code, tc.e.Message, tc.status, tc.code, tc.msg)
		}
		if http.StatusText(tc.status) == "" {
			t.Errorf("%s: %d is not an HTTP status", tc.name, tc.status)
		}
	}
}

// TestFromKafka pins the one Kafka -> wire mapping for the errors the
// API packages meet.
func TestFromKafka(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{kafka.ErrUnknownTopic, 40401},
		{fmt.Errorf("producing: %w", kafka.ErrUnknownPartition), 40402},
		{kerr.UnknownTopicOrPartition, 40403},
		{kerr.TopicAuthorizationFailed, 40301},
		{kerr.SaslAuthenticationFailed, 40101},
		{kerr.MessageTooLarge, 413},
		{kerr.TopicAlreadyExists, 40002},
		{kerr.InvalidPartitions, 40002},
		{kerr.OffsetOutOfRange, 40002},
		{kerr.ThrottlingQuotaExceeded, 42901},
		{kerr.BrokerNotAvailable, 50302},
		{kgo.ErrRecordTimeout, 50003},
		{kerr.NotLeaderForPartition, 50003},
		{kerr.CorruptMessage, 50003},
		{kerr.InvalidProducerEpoch, 50002},
		{kgo.ErrClientClosed, 50302},
		{errors.New("something else"), 50002},
		{ErrPayload.Msg("x"), 42206},
	} {
		if got := FromKafka(tc.err); got.Code != tc.code {
			t.Errorf("FromKafka(%v) = %d, want %d", tc.err, got.Code, tc.code)
		}
	}
	if FromKafka(nil) != nil {
		t.Error("FromKafka(nil) != nil")
	}
}
