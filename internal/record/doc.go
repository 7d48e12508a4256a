// Package record is kgate's one codec for records on the HTTP APIs: it
// decodes what clients send (v2 produce bodies, v3 records and streams,
// KastleX headers) into records ready to produce, and encodes stored
// records for consumers, with one set of rules for keys, values, headers,
// timestamps, partitions, base64 and embedded formats. Every API package
// calls it; none decodes records itself. What is accepted where, and why,
// is the table in docs/api.md ("Record decoding").
//
// Embedded formats are values (Format): BINARY, JSON and STRING are built
// in; schema formats come from a Resolver, so a Schema Registry plugs in
// without a switch in each API.
//
// The decoder is one pass over the input with its own RFC 8259 lexer
// (strings are not copied unless they hold escapes); FuzzV2 and FuzzV3
// check it against a slow reference decoder written with encoding/json.
// Everything here is safe for concurrent use except Stream.
package record
