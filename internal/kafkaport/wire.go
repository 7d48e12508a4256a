package kafkaport

import (
	"encoding/binary"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Until a connection has authenticated, the guard reads every frame the
// client sends (Kafka requests, or after a SaslHandshake v0 raw SASL
// tokens) and writes the SASL responses itself; the broker's responses
// to what it forwards (ApiVersions) and to its own login requests are
// framed here too. These are the few fields it needs, read without
// trusting the client.

// Bounds on what a connection may send before it has authenticated.
const (
	maxFrames = 16
	maxFrame  = 64 << 10 // a login's frames are a few hundred bytes (a Kerberos ticket a few KiB)
)

var errFrame = errors.New("malformed or unexpected request before SASL authentication")

// Request API keys the guard looks at.
const (
	keyApiVersions      = int16(kmsg.ApiVersions)
	keySASLHandshake    = int16(kmsg.SASLHandshake)
	keySASLAuthenticate = int16(kmsg.SASLAuthenticate)
)

// frameLen returns the length of the size-prefixed frame at the start of
// b (0 while its size is not all there), or errFrame for a size out of
// bounds. minSize is 4 for Kafka requests and responses (the header),
// 0 for raw SASL tokens (an empty token is valid).
func frameLen(b []byte, minSize, max int) (int, error) {
	if len(b) < 4 {
		return 0, nil
	}
	size := int(int32(binary.BigEndian.Uint32(b)))
	if size < minSize || size > max {
		return 0, errFrame
	}
	return 4 + size, nil
}

// request is what the guard reads of one request frame.
type request struct {
	key, version int16
	corr         int32
	mechanism    string // SaslHandshake
	auth         []byte // SaslAuthenticate
}

// parseRequest reads a request frame (size prefix included).
func parseRequest(f []byte) (request, error) {
	if len(f) < 4 {
		return request{}, errFrame
	}
	r := kbin{b: f[4:]}
	q := request{key: r.int16(), version: r.int16(), corr: r.int32()}
	r.nullableString() // client id
	if r.bad {
		return q, errFrame
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
		return q, errFrame
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

// responseFrame encodes resp as the response to corr, size prefix
// included.
func responseFrame(corr int32, resp kmsg.Response) []byte {
	b := make([]byte, 8, 64)
	if resp.IsFlexible() && resp.Key() != keyApiVersions {
		b = append(b, 0) // no tagged fields in the header
	}
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	binary.BigEndian.PutUint32(b[4:], uint32(corr))
	return b
}

// readResponse decodes a response frame of req's version into resp.
func readResponse(f []byte, resp kmsg.Response) error {
	if len(f) < 8 {
		return errFrame
	}
	body := f[8:]
	if resp.IsFlexible() && resp.Key() != keyApiVersions {
		r := kbin{b: body}
		r.tags()
		if r.bad {
			return errFrame
		}
		body = r.b
	}
	return resp.ReadFrom(body)
}

// handshakeResponse answers a SaslHandshake of version v with code and
// the mechanisms the connection may use (every answer lists them:
// clients such as kafkajs check the list).
func handshakeResponse(corr int32, v int16, code int16, mechanisms []string) []byte {
	resp := kmsg.NewPtrSASLHandshakeResponse()
	resp.Version = v
	resp.ErrorCode = code
	resp.SupportedMechanisms = mechanisms
	return responseFrame(corr, resp)
}

// authenticateResponse answers a SaslAuthenticate of version v with the
// server's next SASL message.
func authenticateResponse(corr int32, v int16, reply []byte) []byte {
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.Version = v
	resp.SASLAuthBytes = reply
	if resp.SASLAuthBytes == nil {
		resp.SASLAuthBytes = []byte{}
	}
	return responseFrame(corr, resp)
}

// saslFailure is a SaslAuthenticate response frame refusing the request
// with SASL_AUTHENTICATION_FAILED and msg.
func saslFailure(corr int32, version int16, msg string) []byte {
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.Version = version
	resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
	resp.ErrorMessage = &msg
	resp.SASLAuthBytes = []byte{}
	return responseFrame(corr, resp)
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

// rawToken frames a SASL token as a v0 exchange does: a 4-byte length
// and the token, no Kafka header.
func rawToken(tok []byte) []byte {
	return append(binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(tok)), uint32(len(tok))), tok...)
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
