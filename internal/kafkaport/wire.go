package auth

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The Kafka-port guard reads the frames that pass by until a connection
// has authenticated: the client's requests (to find the SASL mechanism
// and user) and the broker's responses (to learn whether each
// SaslAuthenticate succeeded). These are the few fields it needs, read
// without trusting the client.

// Bounds on what a connection may send before it has authenticated.
const (
	sniffMaxFrames = 16
	sniffMaxFrame  = 64 << 10 // a login's frames are a few hundred bytes
)

var errSniff = errors.New("malformed or unexpected request before SASL authentication")

// Request API keys the guard looks at.
const (
	keySASLHandshake    = int16(kmsg.SASLHandshake)
	keySASLAuthenticate = int16(kmsg.SASLAuthenticate)
)

// frameLen returns the length of the size-prefixed frame at the start of
// b (0 while its size is not all there), or errSniff for a size out of
// bounds.
func frameLen(b []byte, max int) (int, error) {
	if len(b) < 4 {
		return 0, nil
	}
	size := int(int32(binary.BigEndian.Uint32(b)))
	if size < 4 || size > max {
		return 0, errSniff
	}
	return 4 + size, nil
}

// kafkaRequest is what the guard reads of one request frame.
type kafkaRequest struct {
	key, version int16
	corr         int32
	mechanism    string // SaslHandshake
	auth         []byte // SaslAuthenticate
}

// parseRequest reads a request frame (size prefix included).
func parseRequest(f []byte) (kafkaRequest, error) {
	r := kbin{b: f[4:]}
	q := kafkaRequest{key: r.int16(), version: r.int16(), corr: r.int32()}
	r.nullableString() // client id
	if r.bad {
		return q, errSniff
	}
	switch q.key {
	case keySASLHandshake: // never flexible
		q.mechanism = r.string()
	case keySASLAuthenticate:
		if q.version >= 2 {
			r.tags()
			q.auth = r.compactBytes()
		} else {
			q.auth = r.bytes()
		}
	}
	if r.bad {
		return q, errSniff
	}
	return q, nil
}

// responseCorr returns the correlation id of a response frame.
func responseCorr(f []byte) int32 {
	if len(f) < 8 {
		return -1
	}
	return int32(binary.BigEndian.Uint32(f[4:]))
}

// saslAuthenticateError returns the error code of a SaslAuthenticate
// response frame of version v; a frame too short to tell is an error.
func saslAuthenticateError(f []byte, v int16) int16 {
	if len(f) < 8 {
		return kerr.IllegalSaslState.Code
	}
	r := kbin{b: f[8:]}
	if v >= 2 { // response header v1: tagged fields
		r.tags()
	}
	code := r.int16()
	if r.bad {
		return kerr.IllegalSaslState.Code
	}
	return code
}

// saslFailure is a SaslAuthenticate response frame refusing the request
// with SASL_AUTHENTICATION_FAILED and msg.
func saslFailure(corr int32, version int16, msg string) []byte {
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.Version = version
	resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
	resp.ErrorMessage = &msg
	b := make([]byte, 8, 64+len(msg))
	if resp.IsFlexible() {
		b = append(b, 0) // no tagged fields in the header
	}
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	binary.BigEndian.PutUint32(b[4:], uint32(corr))
	return b
}

// saslSteps is how many successful SaslAuthenticate round trips
// authenticate with mechanism (0: not one the broker serves).
func saslSteps(mechanism string) int {
	switch strings.ToUpper(mechanism) {
	case "PLAIN":
		return 1
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		return 2
	}
	return 0
}

// saslUser extracts the authentication identity from a PLAIN message
// (authzid NUL authcid NUL password) or a SCRAM client-first message
// ("n,,n=user,r=nonce").
func saslUser(mechanism string, auth []byte) string {
	switch strings.ToUpper(mechanism) {
	case "PLAIN":
		parts := bytes.SplitN(auth, []byte{0}, 3)
		if len(parts) == 3 {
			return string(parts[1])
		}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		// gs2-header: flag "," [authzid] ","
		msg := string(auth)
		i := strings.IndexByte(msg, ',')
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(msg[i+1:], ',')
		if j < 0 {
			return ""
		}
		bare := msg[i+1+j+1:]
		if !strings.HasPrefix(bare, "n=") {
			return ""
		}
		name, _, _ := strings.Cut(bare[2:], ",")
		return strings.NewReplacer("=2C", ",", "=3D", "=").Replace(name)
	}
	return ""
}

// kbin reads Kafka's primitive types; a short read sets bad.
type kbin struct {
	b   []byte
	bad bool
}

func (r *kbin) take(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.bad = true
		r.b = nil
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *kbin) int16() int16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return int16(binary.BigEndian.Uint16(b))
}

func (r *kbin) int32() int32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

func (r *kbin) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *kbin) nullableString() {
	n := r.int16()
	if n > 0 {
		r.take(int(n))
	}
}

func (r *kbin) string() string {
	n := r.int16()
	if n < 0 {
		r.bad = true
		return ""
	}
	return string(r.take(int(n)))
}

func (r *kbin) bytes() []byte {
	n := r.int32()
	if n < 0 {
		return nil
	}
	return r.take(int(n))
}

func (r *kbin) compactBytes() []byte {
	n := r.uvarint()
	if n == 0 || n > uint64(len(r.b))+1 {
		if n != 0 {
			r.bad = true
		}
		return nil
	}
	return r.take(int(n - 1))
}

func (r *kbin) tags() {
	n := r.uvarint()
	for i := uint64(0); i < n && !r.bad; i++ {
		r.uvarint() // tag
		size := r.uvarint()
		if size > uint64(len(r.b)) {
			r.bad = true
			return
		}
		r.take(int(size))
	}
}
