package vault

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// ErrBadFileName is wrapped by every error ParseFileName returns.
var ErrBadFileName = errors.New("not a Kerberos agent file name")

// FileName is what a Kerberos agent encodes in a recording's name:
//
//	<directory>/<unix>_<n>-<subsec>_<instance>_<x1-y1-x2-y2>_<changes>_<last>.mp4
//
// e.g. vessosa/1606164482_6-818812_FundoEsquerda_229-153-288-247_51_745.mp4.
type FileName struct {
	// Directory is the account directory before the last slash ("" if
	// none).
	Directory string `json:"directory,omitempty"`
	// Timestamp is the recording time including the sub-second part.
	Timestamp time.Time `json:"timestamp"`
	// InstanceName is the camera's name; it may contain underscores.
	InstanceName string `json:"instance_name"`
	// Region is the motion region x1, y1, x2, y2 (all 0 for continuous
	// recording).
	Region [4]int `json:"region"`
	// NumberOfChanges is the number of changed pixels (-1 in continuous
	// mode).
	NumberOfChanges int `json:"number_of_changes"`
	// Last is the final field: a token in old agents, the duration in
	// milliseconds in newer ones. Its meaning drifted, so it is reported
	// as is.
	Last int64 `json:"last_field"`
}

// ParseFileName parses a recording key. It splits on underscores from both
// ends (timestamp and sub-second from the left, region, changes and the
// last field from the right), so an instance name containing underscores
// survives. Any extension is ignored.
func ParseFileName(key string) (FileName, error) {
	var fn FileName
	dir, base := path.Split(key)
	fn.Directory = strings.TrimSuffix(dir, "/")
	if ext := path.Ext(base); ext != "" && len(ext) <= 5 {
		base = strings.TrimSuffix(base, ext)
	}
	parts := strings.Split(base, "_")
	if len(parts) < 6 {
		return fn, fmt.Errorf("%w: %d fields, want at least 6", ErrBadFileName, len(parts))
	}
	secs, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || secs < 0 || secs > 1<<40 {
		return fn, fmt.Errorf("%w: timestamp %q", ErrBadFileName, parts[0])
	}
	nanos, err := subsecond(parts[1])
	if err != nil {
		return fn, fmt.Errorf("%w: sub-second %q: %v", ErrBadFileName, parts[1], err)
	}
	fn.Timestamp = time.Unix(secs, nanos).UTC()
	n := len(parts)
	fn.InstanceName = strings.Join(parts[2:n-3], "_")
	if fn.InstanceName == "" {
		return fn, fmt.Errorf("%w: empty instance name", ErrBadFileName)
	}
	if fn.Region, err = region(parts[n-3]); err != nil {
		return fn, fmt.Errorf("%w: region %q: %v", ErrBadFileName, parts[n-3], err)
	}
	changes, err := strconv.Atoi(parts[n-2])
	if err != nil || changes < -1 {
		return fn, fmt.Errorf("%w: number of changes %q", ErrBadFileName, parts[n-2])
	}
	fn.NumberOfChanges = changes
	if fn.Last, err = strconv.ParseInt(parts[n-1], 10, 64); err != nil {
		return fn, fmt.Errorf("%w: last field %q", ErrBadFileName, parts[n-1])
	}
	return fn, nil
}

// subsecond parses "<digits>-<value>", e.g. 6-818812 (microseconds) or
// 3-123 (milliseconds), into nanoseconds.
func subsecond(s string) (int64, error) {
	l, v, ok := strings.Cut(s, "-")
	if !ok {
		return 0, errors.New("want <digits>-<value>")
	}
	digits, err := strconv.Atoi(l)
	if err != nil || digits < 1 || digits > 9 {
		return 0, errors.New("digit count must be 1 to 9")
	}
	if len(v) > digits || len(v) == 0 {
		return 0, errors.New("value longer than its digit count")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("value is not a number")
	}
	for range 9 - digits {
		n *= 10
	}
	return n, nil
}

func region(s string) ([4]int, error) {
	var r [4]int
	parts := strings.Split(s, "-")
	if len(parts) != 4 {
		return r, errors.New("want x1-y1-x2-y2")
	}
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > 1<<20 {
			return r, fmt.Errorf("coordinate %q", p)
		}
		r[i] = v
	}
	return r, nil
}
