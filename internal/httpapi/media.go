package httpapi

import (
	"mime"
	"strconv"
	"strings"
)

// Offer is a media type an endpoint can produce, with the server-side
// quality (Jersey's qs) that breaks ties the way Confluent's proxy does.
type Offer struct {
	Type string
	QS   float64
}

type mediaRange struct {
	typ, sub string
	q        float64
}

// MediaType returns the lowercased type/subtype of a Content-Type header
// without parameters, or "" when it is missing or malformed.
func MediaType(contentType string) string {
	if contentType == "" {
		return ""
	}
	if simpleMediaType(contentType) {
		return contentType // what clients send on the hot path: nothing to parse
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return strings.ToLower(mt)
}

// simpleMediaType reports whether s is a lowercase type/subtype with no
// parameters, which mime.ParseMediaType would return unchanged.
func simpleMediaType(s string) bool {
	slash := -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '+', c == '-':
		case c == '/' && slash < 0:
			slash = i
		default:
			return false
		}
	}
	return slash > 0 && slash < len(s)-1
}

func parseAccept(h string) []mediaRange {
	if strings.TrimSpace(h) == "" {
		return []mediaRange{{"*", "*", 1}}
	}
	var out []mediaRange
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		fields := strings.Split(part, ";")
		t := strings.ToLower(strings.TrimSpace(fields[0]))
		if t == "*" {
			t = "*/*"
		}
		typ, sub, ok := strings.Cut(t, "/")
		if !ok || typ == "" || sub == "" {
			continue
		}
		q := 1.0
		for _, p := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 && f <= 1 {
					q = f
				}
			}
		}
		out = append(out, mediaRange{typ, sub, q})
	}
	return out
}

// clientQ is the quality the client gives media type t: the q of the most
// specific matching range, or -1 when nothing matches.
func clientQ(ranges []mediaRange, t string) float64 {
	typ, sub, _ := strings.Cut(t, "/")
	best, spec := -1.0, -1
	for _, r := range ranges {
		s := -1
		switch {
		case r.typ == typ && r.sub == sub:
			s = 2
		case r.typ == typ && r.sub == "*":
			s = 1
		case r.typ == "*" && r.sub == "*":
			s = 0
		}
		if s > spec {
			best, spec = r.q, s
		}
	}
	return best
}

// Negotiate picks the offer the Accept header prefers, weighting the
// client's q by the server's qs; ties go to the earlier offer. It returns
// "" when the client accepts none of them. An empty Accept accepts all.
func Negotiate(accept string, offers []Offer) string {
	ranges := parseAccept(accept)
	bestType, bestScore := "", 0.0
	for _, o := range offers {
		q := clientQ(ranges, o.Type)
		if q <= 0 {
			continue
		}
		qs := o.QS
		if qs == 0 {
			qs = 1
		}
		if score := q * qs; score > bestScore {
			bestType, bestScore = o.Type, score
		}
	}
	return bestType
}
