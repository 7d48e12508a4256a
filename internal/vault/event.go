// Package vault speaks Kerberos Vault: it parses the "recording stored"
// events Vault publishes to Kafka (tolerantly: numbers where strings are
// expected and the other way round, unknown fields ignored), parses the
// agents' recording file names, and fetches recordings from Vault's blob
// API, from S3-compatible storage or from a local directory into
// temporary files. The vault-colors handler ties these to the media
// package.
//
// Vault's access keys are secrets: they are sent only as request headers,
// never logged, and Vault's 401 answer, which echoes them, is never read
// into an error or a log line.
package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrMalformedEvent is wrapped by every error Parse returns.
var ErrMalformedEvent = errors.New("malformed vault event")

// MaxKeyLength bounds payload.key.
const MaxKeyLength = 1024

// Event is a Vault "recording stored" event. Field names follow the JSON;
// note Vault's naming trap: JSON "source" is the storage provider's name
// (sent as X-Kerberos-Storage-Provider), JSON "provider" is the storage
// kind ("kstorage").
type Event struct {
	// Date is the event time (JSON "date", unix seconds).
	Date time.Time
	// Source is the provider name, e.g. "gcp-europe-west1".
	Source string
	// Storage is JSON "provider", e.g. "kstorage".
	Storage string
	Events  []string
	// Key is payload.key, the recording's file name in the provider.
	Key string
	// FileSize is payload.fileSize in bytes (0 when absent).
	FileSize int64
	// Metadata is payload.metadata with every value as a string.
	Metadata map[string]string
}

// rawEvent mirrors the JSON loosely: every scalar the producers disagree
// on is decoded as raw JSON and converted by hand.
type rawEvent struct {
	Date     json.RawMessage `json:"date"`
	Source   json.RawMessage `json:"source"`
	Provider json.RawMessage `json:"provider"`
	Events   json.RawMessage `json:"events"`
	Payload  *struct {
		Key      json.RawMessage            `json:"key"`
		FileSize json.RawMessage            `json:"fileSize"`
		Metadata map[string]json.RawMessage `json:"metadata"`
	} `json:"payload"`
}

// Parse decodes one event. It accepts what Vault versions emit: date and
// fileSize as numbers or numeric strings, metadata values of any scalar
// type (kept as strings), and unknown fields anywhere. It rejects what a
// handler cannot work with: not a JSON object, no payload.key, or a key
// that is not a plain relative name. Errors wrap ErrMalformedEvent.
func Parse(b []byte) (*Event, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformedEvent)
	}
	var raw rawEvent
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if raw.Payload == nil {
		return nil, fmt.Errorf("%w: no payload", ErrMalformedEvent)
	}
	ev := &Event{}
	var err error
	if ev.Key, err = scalarString(raw.Payload.Key); err != nil {
		return nil, fmt.Errorf("%w: payload.key: %v", ErrMalformedEvent, err)
	}
	if err := checkKey(ev.Key); err != nil {
		return nil, fmt.Errorf("%w: payload.key: %v", ErrMalformedEvent, err)
	}
	if ev.Source, err = scalarString(raw.Source); err != nil {
		return nil, fmt.Errorf("%w: source: %v", ErrMalformedEvent, err)
	}
	if ev.Source != "" && !validHeaderValue(ev.Source) {
		return nil, fmt.Errorf("%w: source: control characters", ErrMalformedEvent)
	}
	if ev.Storage, err = scalarString(raw.Provider); err != nil {
		return nil, fmt.Errorf("%w: provider: %v", ErrMalformedEvent, err)
	}
	if len(raw.Date) > 0 {
		secs, err := scalarInt(raw.Date)
		if err != nil {
			return nil, fmt.Errorf("%w: date: %v", ErrMalformedEvent, err)
		}
		if secs != 0 {
			ev.Date = time.Unix(secs, 0).UTC()
		}
	}
	if len(raw.Payload.FileSize) > 0 {
		if ev.FileSize, err = scalarInt(raw.Payload.FileSize); err != nil {
			return nil, fmt.Errorf("%w: payload.fileSize: %v", ErrMalformedEvent, err)
		}
		if ev.FileSize < 0 {
			return nil, fmt.Errorf("%w: payload.fileSize is negative", ErrMalformedEvent)
		}
	}
	if len(raw.Events) > 0 && !isNull(raw.Events) {
		// Tolerated but not needed: skip events that are not strings.
		var evs []json.RawMessage
		if err := json.Unmarshal(raw.Events, &evs); err == nil {
			for _, e := range evs {
				if s, err := scalarString(e); err == nil && s != "" {
					ev.Events = append(ev.Events, s)
				}
			}
		}
	}
	if len(raw.Payload.Metadata) > 0 {
		ev.Metadata = make(map[string]string, len(raw.Payload.Metadata))
		for k, v := range raw.Payload.Metadata {
			if s, err := scalarString(v); err == nil {
				ev.Metadata[k] = s
			}
		}
	}
	return ev, nil
}

func isNull(b json.RawMessage) bool { return string(bytes.TrimSpace(b)) == "null" }

// scalarString reads a JSON string, number or boolean as a string; null or
// absent is "".
func scalarString(b json.RawMessage) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || isNull(b) {
		return "", nil
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", err
		}
		return s, nil
	case 't', 'f':
		var v bool
		if err := json.Unmarshal(b, &v); err != nil {
			return "", err
		}
		return strconv.FormatBool(v), nil
	case '{', '[':
		return "", errors.New("want a string, got an object or array")
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// scalarInt reads a JSON number or numeric string as an integer (a
// fractional part is truncated).
func scalarInt(b json.RawMessage) (int64, error) {
	s, err := scalarString(b)
	if err != nil {
		return 0, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return int64(f), nil
}

// checkKey accepts a relative object name without control characters or
// parent-directory elements.
func checkKey(k string) error {
	switch {
	case k == "":
		return errors.New("missing")
	case len(k) > MaxKeyLength:
		return fmt.Errorf("longer than %d bytes", MaxKeyLength)
	case !utf8.ValidString(k) || !validHeaderValue(k):
		return errors.New("invalid characters")
	case strings.HasPrefix(k, "/"):
		return errors.New("absolute path")
	}
	for _, el := range strings.Split(k, "/") {
		if el == ".." {
			return errors.New("contains ..")
		}
	}
	return nil
}

// validHeaderValue reports whether s can be sent as an HTTP header value
// (no control characters).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
