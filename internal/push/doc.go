// Package push is the engine behind push consume (records streamed to a
// client over Server-Sent Events or WebSocket): position vectors (the
// compact, resumable "where am I" of a stream over every partition of a
// topic), start positions (earliest, latest, offsets, a timestamp), the
// record filter (key, headers), credit (WebSocket flow control) and
// Reader, which reads a topic from a position with read-ahead bounded by
// what its caller asks for. It knows nothing of HTTP: the v3 API adapts
// it (internal/httpapi/v3/push.go).
package push
