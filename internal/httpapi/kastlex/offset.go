package kastlex

import (
	"errors"
	"strconv"
	"strings"
)

// offsetKind is how an offset parameter names an offset.
type offsetKind int

const (
	offsetExact    offsetKind = iota // a number >= 0
	offsetLast                       // the last message (latest-1)
	offsetLatest                     // the next offset to be written
	offsetEarliest                   // the first offset in the log
	offsetRelative                   // latest + n, n < 0 (-1 is last)
)

// offsetSpec is a parsed offset parameter.
type offsetSpec struct {
	kind offsetKind
	n    int64 // the offset (exact) or the distance (relative, negative)
}

var errBadOffset = errors.New("offset must be a number, last, latest, earliest, or a negative number counted back from latest")

// parseOffset parses KastleX's offset: a number, "last", "latest",
// "earliest", or a negative number relative to latest (-1 is last).
// Unlike KastleX (which takes the leading digits of "12abc"), anything
// that is not exactly one of these is an error.
func parseOffset(s string) (offsetSpec, error) {
	switch strings.ToLower(s) {
	case "", "last":
		return offsetSpec{kind: offsetLast}, nil
	case "latest":
		return offsetSpec{kind: offsetLatest}, nil
	case "earliest":
		return offsetSpec{kind: offsetEarliest}, nil
	}
	if len(s) > 20 {
		return offsetSpec{}, errBadOffset
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || (i == 0 && c == '-' && len(s) > 1)) {
			return offsetSpec{}, errBadOffset
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return offsetSpec{}, errBadOffset
	}
	if n < 0 {
		return offsetSpec{kind: offsetRelative, n: n}, nil
	}
	return offsetSpec{kind: offsetExact, n: n}, nil
}

// resolve turns the spec into an offset given the partition's earliest
// and latest offsets. Last on an empty partition is latest (the fetch
// then waits for the next message); a relative offset before earliest is
// earliest (so -100 on a short log gives what there is).
func (o offsetSpec) resolve(earliest, latest int64) int64 {
	switch o.kind {
	case offsetLatest:
		return latest
	case offsetEarliest:
		return earliest
	case offsetLast:
		if latest > earliest {
			return latest - 1
		}
		return latest
	case offsetRelative:
		if at := latest + o.n; at > earliest {
			return at
		}
		return earliest
	}
	return o.n
}

// parseAt parses the offsets endpoint's at: latest, earliest, last, or a
// timestamp in milliseconds.
func parseAt(s string) (offsetSpec, int64, error) {
	switch strings.ToLower(s) {
	case "", "latest":
		return offsetSpec{kind: offsetLatest}, 0, nil
	case "earliest":
		return offsetSpec{kind: offsetEarliest}, 0, nil
	case "last":
		return offsetSpec{kind: offsetLast}, 0, nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return offsetSpec{}, 0, errBadAt
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return offsetSpec{}, 0, errBadAt
	}
	return offsetSpec{kind: offsetExact}, ts, nil
}

var errBadAt = errors.New("at must be latest, earliest, last or a timestamp in milliseconds")
