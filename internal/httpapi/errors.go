// Package httpapi is the HTTP plumbing every API surface shares: the error
// catalog (Confluent's codes and statuses), the one function that maps
// Kafka errors to it, the handler adapter that writes errors, the router
// that records every route's metadata, the middleware chain, content
// negotiation and the server.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/kafka"
)

// Error is an error as the client sees it: an HTTP status, a Confluent
// error_code and a public message. Cause is logged, never sent.
type Error struct {
	Status  int
	Code    int
	Message string
	Cause   error
	// entry is the catalog entry the error was made from (nil: it is
	// one). Two entries may share a status and code, as Confluent's
	// 40403 means both "no such consumer" and "no such topic-partition";
	// Is tells them apart by entry.
	entry *Error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %d %s: %v", e.Status, e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %d %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the private cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is matches catalog entries: errors.Is(err, ErrTopicNotFound) holds for
// any copy of that entry made with Msg or Wrap, and for no other entry.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.catalogEntry() == e.catalogEntry()
}

func (e *Error) catalogEntry() *Error {
	if e.entry != nil {
		return e.entry
	}
	return e
}

// Wrap returns a copy of e carrying cause (logged, not sent).
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Cause, c.entry = cause, e.catalogEntry()
	return &c
}

// Msg returns a copy of e with another public message.
func (e *Error) Msg(format string, args ...any) *Error {
	c := *e
	c.Message, c.entry = fmt.Sprintf(format, args...), e.catalogEntry()
	return &c
}

// The catalog. Status, error_code and message follow Confluent's REST
// Proxy (reference/confluent-rest.md §3); the table test pins them.
var (
	ErrBadRequest           = &Error{http.StatusBadRequest, 400, "Bad Request", nil, nil}
	ErrKafkaBadRequest      = &Error{http.StatusBadRequest, 40002, "Bad Request", nil, nil}
	ErrStreamPosition       = &Error{http.StatusBadRequest, 40011, "Invalid stream position.", nil, nil}
	ErrUnauthenticated      = &Error{http.StatusUnauthorized, 40101, "Authentication failed.", nil, nil}
	ErrForbidden            = &Error{http.StatusForbidden, 40301, "Not authorized to access this resource.", nil, nil}
	ErrNotFound             = &Error{http.StatusNotFound, 404, "HTTP 404 Not Found", nil, nil}
	ErrTopicNotFound        = &Error{http.StatusNotFound, 40401, "Topic not found.", nil, nil}
	ErrPartitionNotFound    = &Error{http.StatusNotFound, 40402, "Partition not found.", nil, nil}
	ErrConsumerNotFound     = &Error{http.StatusNotFound, 40403, "Consumer instance not found.", nil, nil}
	ErrUnknownTopicPart     = &Error{http.StatusNotFound, 40403, "This server does not host this topic-partition.", nil, nil}
	ErrMethodNotAllowed     = &Error{http.StatusMethodNotAllowed, 405, "HTTP 405 Method Not Allowed", nil, nil}
	ErrNotAcceptable        = &Error{http.StatusNotAcceptable, 406, "HTTP 406 Not Acceptable", nil, nil}
	ErrFormatMismatch       = &Error{http.StatusNotAcceptable, 40601, "The requested embedded data format does not match the deserializer for this consumer instance", nil, nil}
	ErrSerialization        = &Error{http.StatusRequestTimeout, 40801, "Error deserializing message.", nil, nil}
	ErrConsumerExists       = &Error{http.StatusConflict, 40902, "Consumer with specified consumer ID already exists in the specified consumer group.", nil, nil}
	ErrIllegalState         = &Error{http.StatusConflict, 40903, "Illegal state.", nil, nil}
	ErrTooLarge             = &Error{http.StatusRequestEntityTooLarge, 413, "Request body is too large.", nil, nil}
	ErrUnsupportedMediaType = &Error{http.StatusUnsupportedMediaType, 415, "HTTP 415 Unsupported Media Type", nil, nil}
	ErrUnprocessable        = &Error{http.StatusUnprocessableEntity, 422, "Unprocessable Entity", nil, nil}
	ErrConsumerConfig       = &Error{http.StatusUnprocessableEntity, 40001, "Invalid consumer configuration.", nil, nil}
	ErrInvalidConsumerConf  = &Error{http.StatusUnprocessableEntity, 42204, "Invalid consumer configuration.", nil, nil}
	ErrNoSchemaRegistry     = &Error{http.StatusUnprocessableEntity, 42206, "Payload error. Schema Registry must be configured when using schemas.", nil, nil}
	ErrPayload              = &Error{http.StatusUnprocessableEntity, 42206, "Payload error. Request body is empty. Data is required.", nil, nil}
	ErrBatchInvalid         = &Error{http.StatusUnprocessableEntity, 42208, "Invalid batch.", nil, nil}
	ErrRateLimited          = &Error{http.StatusTooManyRequests, 429, "Request rate limit exceeded.", nil, nil}
	ErrKafkaThrottled       = &Error{http.StatusTooManyRequests, 42901, "Request throttled by Kafka quota.", nil, nil}
	ErrInternal             = &Error{http.StatusInternalServerError, 500, "Internal Server Error", nil, nil}
	ErrKafka                = &Error{http.StatusInternalServerError, 50002, "Kafka error.", nil, nil}
	ErrKafkaRetriable       = &Error{http.StatusInternalServerError, 50003, "Kafka retriable error.", nil, nil}
	ErrBrokerNotAvailable   = &Error{http.StatusServiceUnavailable, 50302, "Broker not available.", nil, nil}
	ErrShuttingDown         = &Error{http.StatusServiceUnavailable, 503, "The gateway is shutting down.", nil, nil}
	ErrOverloaded           = &Error{http.StatusServiceUnavailable, 503, "The gateway's memory budget is in use; retry later.", nil, nil}
	ErrMoving               = &Error{http.StatusServiceUnavailable, 503, "The consumer instance is moving between replicas; retry shortly.", nil, nil}
	ErrBusy                 = &Error{http.StatusServiceUnavailable, 503, "The gateway is serving as many requests as it can; retry later.", nil, nil}
	ErrTimeout              = &Error{http.StatusGatewayTimeout, 504, "Gateway timeout.", nil, nil}
	ErrRequestTimeout       = &Error{http.StatusRequestTimeout, 408, "Timed out reading the request.", nil, nil}
)

// The schema registry's entries: Confluent Schema Registry's statuses
// and codes (its Errors.java); messages are usually replaced by the
// registry's own, which name the subject or version.
var (
	ErrSubjectNotFound       = &Error{http.StatusNotFound, 40401, "Subject not found.", nil, nil}
	ErrVersionNotFound       = &Error{http.StatusNotFound, 40402, "Version not found.", nil, nil}
	ErrSchemaNotFound        = &Error{http.StatusNotFound, 40403, "Schema not found.", nil, nil}
	ErrSubjectSoftDeleted    = &Error{http.StatusNotFound, 40404, "Subject was soft deleted.", nil, nil}
	ErrSubjectNotSoftDeleted = &Error{http.StatusNotFound, 40405, "Subject was not deleted first before being permanently deleted.", nil, nil}
	ErrVersionSoftDeleted    = &Error{http.StatusNotFound, 40406, "Schema version was soft deleted.", nil, nil}
	ErrVersionNotSoftDeleted = &Error{http.StatusNotFound, 40407, "Schema version was not deleted first before being permanently deleted.", nil, nil}
	ErrSubjectConfigNotFound = &Error{http.StatusNotFound, 40408, "Subject does not have subject-level compatibility configured.", nil, nil}
	ErrSubjectModeNotFound   = &Error{http.StatusNotFound, 40409, "Subject does not have subject-level mode configured.", nil, nil}
	ErrIncompatibleSchema    = &Error{http.StatusConflict, 409, "Schema being registered is incompatible with an earlier schema.", nil, nil}
	ErrInvalidSchema         = &Error{http.StatusUnprocessableEntity, 42201, "Invalid schema.", nil, nil}
	ErrInvalidVersion        = &Error{http.StatusUnprocessableEntity, 42202, "Invalid version.", nil, nil}
	ErrInvalidCompatibility  = &Error{http.StatusUnprocessableEntity, 42203, "Invalid compatibility level.", nil, nil}
	ErrInvalidMode           = &Error{http.StatusUnprocessableEntity, 42204, "Invalid mode.", nil, nil}
	ErrOperationNotPermitted = &Error{http.StatusUnprocessableEntity, 42205, "Operation not permitted.", nil, nil}
	ErrReferenceExists       = &Error{http.StatusUnprocessableEntity, 42206, "One or more references exist to the schema.", nil, nil}
	ErrSchemaStore           = &Error{http.StatusInternalServerError, 50001, "Error in the backend data store.", nil, nil}
	ErrSchemaStoreTimeout    = &Error{http.StatusInternalServerError, 50002, "Operation timed out.", nil, nil}
)

// FromKafka maps an error from the Kafka layer to the catalog. It is the
// one place Kafka errors become wire errors. A nil error maps to nil.
func FromKafka(err error) *Error {
	if err == nil {
		return nil
	}
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	switch {
	case errors.Is(err, kafka.ErrUnknownTopic):
		return ErrTopicNotFound.Wrap(err)
	case errors.Is(err, kafka.ErrUnknownPartition):
		return ErrPartitionNotFound.Wrap(err)
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return ErrUnknownTopicPart.Wrap(err)
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.ClusterAuthorizationFailed), errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return ErrForbidden.Msg("%s", kafkaMessage(err)).Wrap(err)
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState),
		errors.Is(err, kerr.UnsupportedSaslMechanism):
		return ErrUnauthenticated.Msg("%s", kafkaMessage(err)).Wrap(err)
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return ErrTooLarge.Msg("%s", kafkaMessage(err)).Wrap(err)
	case errors.Is(err, kerr.InvalidReplicationFactor), errors.Is(err, kerr.InvalidPartitions),
		errors.Is(err, kerr.InvalidRequest), errors.Is(err, kerr.InvalidTopicException),
		errors.Is(err, kerr.PolicyViolation), errors.Is(err, kerr.TopicAlreadyExists),
		errors.Is(err, kerr.InvalidConfig), errors.Is(err, kerr.TopicDeletionDisabled),
		errors.Is(err, kerr.SecurityDisabled), errors.Is(err, kerr.UnsupportedVersion),
		errors.Is(err, kerr.InvalidReplicaAssignment), errors.Is(err, kerr.InvalidRecord),
		errors.Is(err, kerr.OffsetOutOfRange):
		return ErrKafkaBadRequest.Msg("%s", kafkaMessage(err)).Wrap(err)
	case errors.Is(err, kerr.ThrottlingQuotaExceeded):
		return ErrKafkaThrottled.Wrap(err)
	case errors.Is(err, kerr.BrokerNotAvailable):
		return ErrBrokerNotAvailable.Wrap(err)
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, kgo.ErrRecordRetries),
		errors.Is(err, context.DeadlineExceeded):
		return ErrKafkaRetriable.Msg("%s", kafkaMessage(err)).Wrap(err)
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		if ke.Retriable {
			return ErrKafkaRetriable.Msg("%s", kafkaMessage(err)).Wrap(err)
		}
		return ErrKafka.Msg("%s", kafkaMessage(err)).Wrap(err)
	}
	if errors.Is(err, kgo.ErrClientClosed) {
		return ErrBrokerNotAvailable.Msg("The gateway is shutting down.").Wrap(err)
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrKafkaRetriable.Msg("Timed out talking to Kafka.").Wrap(err)
	}
	return ErrKafka.Wrap(err)
}

// kafkaMessage is the public text of a Kafka error: the broker's error
// name and description, never addresses or credentials from the client.
func kafkaMessage(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message + ": " + ke.Description
	}
	switch {
	case errors.Is(err, kgo.ErrRecordTimeout):
		return "Timed out waiting for the broker to acknowledge the record."
	case errors.Is(err, kgo.ErrRecordRetries):
		return "Gave up producing the record after too many retries."
	case errors.Is(err, context.DeadlineExceeded):
		return "Timed out."
	}
	return "Kafka error."
}
