package record

import (
	"errors"
	"fmt"
	"strconv"
)

// Kind classifies a decoding problem. Each API surface maps kinds onto its
// own status and error code (v2 answers a bad partition type 422, v3 400),
// so the kind, not the message, is what callers switch on.
type Kind uint8

// The kinds of problems.
const (
	// KindSyntax: the input is not JSON. Nothing after it can be read, so
	// a stream ends.
	KindSyntax Kind = iota + 1
	// KindTruncated: the input ended inside a value (a syntax error for a
	// whole body; a stream reads more).
	KindTruncated
	// KindEmpty: there is no body, or it is null.
	KindEmpty
	// KindShape: the body or a record is JSON of the wrong shape (records
	// that are not an array, a record that is not an object).
	KindShape
	// KindInvalid: a field's value cannot be used (wrong JSON type, a
	// number out of range, a bad timestamp or header).
	KindInvalid
	// KindBase64: binary data that is not base64.
	KindBase64
	// KindPartition: a negative partition.
	KindPartition
	// KindFormat: an embedded type that does not exist.
	KindFormat
	// KindNeedsRegistry: a schema format, or schema fields, without a
	// Schema Registry.
	KindNeedsRegistry
	// KindTooLarge: a record larger than the cap (streams).
	KindTooLarge
	// KindUndecodable: stored bytes cannot be rendered in the requested
	// format (a json consumer meeting bytes that are not JSON).
	KindUndecodable
	// KindUnavailable: the Schema Registry the formats use could not
	// answer (an external one unreachable, or refusing kgate's
	// credentials); the request is not at fault.
	KindUnavailable
)

var kindNames = [...]string{
	KindSyntax: "syntax", KindTruncated: "truncated", KindEmpty: "empty", KindShape: "shape",
	KindInvalid: "invalid", KindBase64: "base64", KindPartition: "partition", KindFormat: "format",
	KindNeedsRegistry: "needs_registry", KindTooLarge: "too_large", KindUndecodable: "undecodable",
	KindUnavailable: "unavailable",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Error is a decoding problem: what kind, which field (in the surface's
// own spelling, "records[1].value" or "value.data"; empty for the body),
// and the problem in words. Its text never quotes the data (a value may
// be a secret).
type Error struct {
	Kind    Kind
	Field   string
	Problem string
	// Offset is the byte offset of a syntax error in the input.
	Offset int64
}

func (e *Error) Error() string { return e.Message() }

// Message is the error as a sentence for the client: "records[1].value is
// not a valid base64 string." or, for syntax errors, where it happened.
func (e *Error) Message() string {
	switch e.Kind {
	case KindSyntax, KindTruncated:
		return fmt.Sprintf("Unexpected JSON input: %s at offset %d.", e.Problem, e.Offset)
	}
	if e.Field == "" {
		return upper(e.Problem) + "."
	}
	return e.Field + " " + e.Problem + "."
}

func upper(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// Ends reports whether the problem leaves the rest of the input unreadable
// (a stream must end after it).
func (e *Error) Ends() bool {
	return e.Kind == KindSyntax || e.Kind == KindTruncated || e.Kind == KindTooLarge
}

// KindOf returns the kind of a decoding error, or 0 for other errors.
func KindOf(err error) Kind {
	if err == nil {
		return 0
	}
	if e, ok := err.(*Error); ok {
		return e.Kind
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func errorf(k Kind, field, format string, args ...any) *Error {
	return &Error{Kind: k, Field: field, Problem: fmt.Sprintf(format, args...)}
}

// in returns e with its field placed under prefix ("records[3]" + "value").
func (e *Error) in(prefix string) *Error {
	if prefix == "" {
		return e
	}
	c := *e
	if c.Field == "" {
		c.Field = prefix
	} else {
		c.Field = prefix + "." + c.Field
	}
	return &c
}
