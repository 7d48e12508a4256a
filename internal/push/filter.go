package push

import (
	"bytes"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Filter selects the records a stream sends; the zero Filter sends
// every record. Records it skips still advance the stream's position.
type Filter struct {
	// Key, when set, is the exact key a record must have.
	Key *[]byte
	// Headers must each be on the record: the name, and when Value is
	// set, that exact value.
	Headers []HeaderMatch
}

// HeaderMatch is one header a record must carry.
type HeaderMatch struct {
	Name  string
	Value *[]byte
}

// ParseHeaderMatch parses a header parameter: "name" (present) or
// "name:value" (present with that value).
func ParseHeaderMatch(s string) (HeaderMatch, error) {
	name, value, ok := strings.Cut(s, ":")
	if name == "" {
		return HeaderMatch{}, &FilterError{Problem: "a header filter needs a name (header=NAME or header=NAME:VALUE)"}
	}
	h := HeaderMatch{Name: name}
	if ok {
		v := []byte(value)
		h.Value = &v
	}
	return h, nil
}

// FilterError says what is wrong with a filter the client sent.
type FilterError struct{ Problem string }

func (e *FilterError) Error() string { return "invalid filter: " + e.Problem }

// Empty reports whether f selects every record.
func (f Filter) Empty() bool { return f.Key == nil && len(f.Headers) == 0 }

// Match reports whether r passes f.
func (f Filter) Match(r *kgo.Record) bool {
	if f.Key != nil && (r.Key == nil || !bytes.Equal(*f.Key, r.Key)) {
		return false
	}
	for _, m := range f.Headers {
		found := false
		for _, h := range r.Headers {
			if h.Key == m.Name && (m.Value == nil || bytes.Equal(*m.Value, h.Value)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
