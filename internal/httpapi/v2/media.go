package v2

import (
	"strings"

	"github.com/kgate/kgate/internal/httpapi"
)

// Media types of the v2 API (reference/confluent-rest.md §1.1).
const (
	mtV2         = "application/vnd.kafka.v2+json"
	mtBinary     = "application/vnd.kafka.binary.v2+json"
	mtJSON       = "application/vnd.kafka.json.v2+json"
	mtAvro       = "application/vnd.kafka.avro.v2+json"
	mtJSONSchema = "application/vnd.kafka.jsonschema.v2+json"
	mtProtobuf   = "application/vnd.kafka.protobuf.v2+json"
	mtPlainJSON  = "application/json"
)

// format is an embedded data format.
type format string

const (
	fmtBinary     format = "binary"
	fmtJSON       format = "json"
	fmtAvro       format = "avro"
	fmtJSONSchema format = "jsonschema"
	fmtProtobuf   format = "protobuf"
)

// needsSchemaRegistry reports whether f cannot work without a registry.
func (f format) needsSchemaRegistry() bool {
	return f == fmtAvro || f == fmtJSONSchema || f == fmtProtobuf
}

// parseFormat reads a consumer's "format" field, case-insensitively.
func parseFormat(s string) (format, bool) {
	switch f := format(strings.ToLower(s)); f {
	case fmtBinary, fmtJSON, fmtAvro, fmtJSONSchema, fmtProtobuf:
		return f, true
	}
	return "", false
}

// produceFormat maps a produce request's Content-Type to its format.
// Plain application/json is taken as the json format (a documented
// extension; Confluent answers 415).
func produceFormat(contentType string) (format, error) {
	switch httpapi.MediaType(contentType) {
	case mtBinary:
		return fmtBinary, nil
	case mtJSON, mtPlainJSON:
		return fmtJSON, nil
	case mtAvro:
		return fmtAvro, nil
	case mtJSONSchema:
		return fmtJSONSchema, nil
	case mtProtobuf:
		return fmtProtobuf, nil
	case "":
		return "", httpapi.ErrUnsupportedMediaType.Msg("HTTP 415 Unsupported Media Type: a Content-Type such as %s or %s is required.", mtJSON, mtBinary)
	}
	return "", httpapi.ErrUnsupportedMediaType.Msg("HTTP 415 Unsupported Media Type: %q; produce takes %s, %s (or application/json).", httpapi.MediaType(contentType), mtJSON, mtBinary)
}

// controlContentOK reports whether a consumer-control POST may carry this
// Content-Type: the v2 type, any embedded v2 type, plain JSON, or none
// (curl -d sends form encoding, which we treat as absent only when the
// body is empty).
func controlContentOK(contentType string) bool {
	switch httpapi.MediaType(contentType) {
	case "", mtV2, mtBinary, mtJSON, mtAvro, mtJSONSchema, mtProtobuf, mtPlainJSON, "application/vnd.kafka+json":
		return true
	}
	return false
}

// metadataOffers are what metadata endpoints answer; plain JSON is
// offered too so that Accept: application/json works.
var metadataOffers = []httpapi.Offer{{Type: mtV2, QS: 0.9}, {Type: mtPlainJSON, QS: 0.5}}

// recordsOffers follow Jersey's server weights on GET .../records: binary
// wins when the client does not say (qs=1), the others have qs=0.1.
var recordsOffers = []httpapi.Offer{
	{Type: mtBinary, QS: 1},
	{Type: mtJSON, QS: 0.1},
	{Type: mtAvro, QS: 0.1},
	{Type: mtJSONSchema, QS: 0.1},
	{Type: mtProtobuf, QS: 0.1},
	// The bare v2 type maps to binary, as on Confluent.
	{Type: mtV2, QS: 0.05},
}
