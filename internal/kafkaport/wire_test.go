package kafkaport

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// req builds a size-prefixed Kafka request frame with header v1
// (flexible: v2, which adds tagged fields).
func req(key, version int16, body []byte, flexible bool) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 7)
	b = binary.BigEndian.AppendUint16(b, 5)
	b = append(b, "kgate"...)
	if flexible {
		b = append(b, 0) // no tagged fields
	}
	b = append(b, body...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

func handshake(mech string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(mech)))
	return req(17, 1, append(b, mech...), false)
}

func authenticate(version int16, auth string) []byte {
	if version >= 2 {
		b := binary.AppendUvarint(nil, uint64(len(auth)+1))
		b = append(b, auth...)
		b = append(b, 0) // tags
		return req(36, version, b, true)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(len(auth)))
	return req(36, version, append(b, auth...), false)
}

func TestParseRequest(t *testing.T) {
	apiVersions := req(18, 3, []byte{6, 'k', 'g', 'a', 't', 'e', 2, '1', 0}, true)
	q, err := parseRequest(apiVersions)
	if err != nil || q.key != 18 || q.corr != 7 {
		t.Errorf("ApiVersions: %+v %v", q, err)
	}
	q, err = parseRequest(handshake("SCRAM-SHA-512"))
	if err != nil || q.key != keySASLHandshake || q.mechanism != "SCRAM-SHA-512" {
		t.Errorf("SaslHandshake: %+v %v", q, err)
	}
	for _, v := range []int16{0, 1, 2} {
		q, err := parseRequest(authenticate(v, "n,,n=customer1,r=nonce"))
		if err != nil || q.key != keySASLAuthenticate || q.version != v || string(q.auth) != "n,,n=customer1,r=nonce" {
			t.Errorf("v%d: %+v %v", v, q, err)
		}
	}
	// Truncated frames are refused, not read past their end.
	f := authenticate(2, "n,,n=customer1,r=nonce")
	for n := 5; n < len(f)-1; n++ { // (the last byte is the request's tags, which the guard does not need)
		short := append(binary.BigEndian.AppendUint32(nil, uint32(n-4)), f[4:n]...)
		if q, err := parseRequest(short); err == nil && q.key == keySASLAuthenticate && string(q.auth) == "n,,n=customer1,r=nonce" {
			t.Errorf("a frame cut to %d bytes parsed whole", n)
		}
	}
	if _, err := frameLen([]byte{0x7f, 0xff, 0xff, 0xff}, 4, maxFrame); err == nil {
		t.Error("a 2 GiB frame before authentication was accepted")
	}
	if n, err := frameLen(f[:3], 4, maxFrame); n != 0 || err != nil {
		t.Errorf("a partial size: %d %v", n, err)
	}
}

// TestSASLFailureFrame: the guard's own answer decodes as the broker's
// would, in every SaslAuthenticate version, and the guard reads error
// codes back from such frames.
func TestSASLFailureFrame(t *testing.T) {
	for _, v := range []int16{0, 1, 2} {
		f := saslFailure(42, v, "too many")
		if n, err := frameLen(f, 4, maxFrame); err != nil || n != len(f) {
			t.Fatalf("v%d: frame length %d of %d, %v", v, n, len(f), err)
		}
		if responseCorr(f) != 42 || saslAuthenticateError(f, v) != kerr.SaslAuthenticationFailed.Code {
			t.Errorf("v%d: corr %d code %d", v, responseCorr(f), saslAuthenticateError(f, v))
		}
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		resp.Version = v
		body := f[8:]
		if v >= 2 {
			body = body[1:]
		}
		if err := resp.ReadFrom(body); err != nil || resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || resp.ErrorMessage == nil || *resp.ErrorMessage != "too many" {
			t.Errorf("v%d: %+v %v", v, resp, err)
		}
	}
}
