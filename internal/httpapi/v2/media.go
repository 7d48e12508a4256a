package v2

import (
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/record"
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

// parseFormat reads a consumer's "format" field, case-insensitively: one
// of v2's formats (STRING is v3's only).
func parseFormat(s string) (record.Name, bool) {
	n, ok := record.ParseName(s)
	return n, ok && n != record.String
}

// produceFormat maps a produce request's Content-Type to its format.
// Plain application/json is taken as the json format (a documented
// extension; Confluent answers 415).
func produceFormat(contentType string) (record.Name, error) {
	switch httpapi.MediaType(contentType) {
	case mtBinary:
		return record.Binary, nil
	case mtJSON, mtPlainJSON:
		return record.JSON, nil
	case mtAvro:
		return record.Avro, nil
	case mtJSONSchema:
		return record.JSONSchema, nil
	case mtProtobuf:
		return record.Protobuf, nil
	case "":
		return "", httpapi.ErrUnsupportedMediaType.Msg("HTTP 415 Unsupported Media Type: a Content-Type such as %s or %s is required.", mtJSON, mtBinary)
	}
	return "", httpapi.ErrUnsupportedMediaType.Msg("HTTP 415 Unsupported Media Type: %q; produce takes %s, %s (or application/json).", httpapi.MediaType(contentType), mtJSON, mtBinary)
}

// embeddedType is the media type of records in format n.
func embeddedType(n record.Name) string { return "application/vnd.kafka." + n.Lower() + ".v2+json" }

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
