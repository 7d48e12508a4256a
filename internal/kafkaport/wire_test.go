package kafkaport

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

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

// testGuard is a guard before Admit: only its superuser may log in.
func testGuard(t testing.TB, plainOverPlaintext bool) *Guard {
	g, err := New(Options{Superuser: "kgate", SuperuserPassword: "pw", Credentials: NewCredentials([]byte("secret")),
		PlainOverPlaintext: plainOverPlaintext, FailuresPerSecond: 1000, FailureBurst: 1000,
		UserFailuresPerSecond: 1000, UserFailureBurst: 1000, MaxConnections: 10, MaxConnectionsPerUser: 10,
		AuthTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestPlainOnlyOnLoopback: PLAIN is listed and usable on loopback; from
// elsewhere it is not listed, and trying it fails naming the setting.
func TestPlainOnlyOnLoopback(t *testing.T) {
	remote := netip.MustParseAddr("192.0.2.7")
	g := testGuard(t, false)
	if got := g.offered(remote); slices.Contains(got, Plain) || len(got) != 2 {
		t.Errorf("offered to %v: %v", remote, got)
	}
	if got := g.offered(netip.MustParseAddr("127.0.0.1")); !slices.Contains(got, Plain) {
		t.Errorf("offered on loopback: %v", got)
	}
	s := g.newPlain(Conn{IP: remote, Claim: func(string) error { return nil }})
	_, _, err := s.Step(t.Context(), []byte("\x00kgate\x00pw"))
	var f *Failure
	if !errors.As(err, &f) || f.Class != ClassNotAllowed || !strings.Contains(f.Message(), "broker.sasl.plain_over_plaintext") {
		t.Errorf("PLAIN from %v: %v", remote, err)
	}
	g = testGuard(t, false)
	g.o.TLS = true
	if got := g.offered(remote); !slices.Contains(got, Plain) {
		t.Errorf("offered above TLS: %v", got)
	}
	g = testGuard(t, true)
	if got := g.offered(remote); !slices.Contains(got, Plain) {
		t.Errorf("offered with plain_over_plaintext: %v", got)
	}
	s = g.newPlain(Conn{IP: remote, Claim: func(string) error { return nil }})
	if _, done, err := s.Step(t.Context(), []byte("kgate\x00kgate\x00pw")); !done || err != nil || s.User() != "kgate" {
		t.Errorf("PLAIN with plain_over_plaintext: %v %v", done, err)
	}
}

// fakeBroker reads what the guard hands the broker and answers every
// request with an empty response of its correlation id (for ApiVersions
// v0: no error, no keys).
func fakeBroker(c *conn) {
	defer c.Close()
	for {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c, body); err != nil || len(body) < 8 {
			return
		}
		resp := binary.BigEndian.AppendUint32(nil, 10)
		resp = append(resp, body[4:8]...)
		resp = append(resp, 0, 0, 0, 0, 0, 0)
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// FuzzGuardConn feeds a guarded connection arbitrary client bytes (Kafka
// requests, v0 raw tokens): it never panics, never hands the broker more
// than it may read before authenticating, and ends.
func FuzzGuardConn(f *testing.F) {
	f.Add(handshake("PLAIN"))
	f.Add(append(handshake("SCRAM-SHA-512"), authenticate(1, "n,,n=kgate,r=abc")...))
	f.Add(append(handshake("PLAIN"), authenticate(2, "\x00kgate\x00wrong")...))
	v0 := req(17, 0, append(binary.BigEndian.AppendUint16(nil, 5), "PLAIN"...), false)
	f.Add(append(v0, rawToken([]byte("\x00kgate\x00pw"))...))
	f.Add(append(v0, rawToken([]byte("\x00u\x00"))...))
	f.Add(append(req(18, 0, nil, false), handshake("GSSAPI")...))
	f.Add(req(3, 9, []byte{0, 0, 0, 0}, false))
	f.Add([]byte{0, 0, 0, 9, 0, 36, 0, 2, 0, 0, 0, 1, 0xff})
	g := testGuard(f, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c := newConn(server, g, netip.MustParseAddr("127.0.0.1"), func() {})
		done := make(chan struct{})
		go func() { defer close(done); fakeBroker(c) }()
		_ = client.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = client.Write(b)
		_ = client.(*net.TCPConn).CloseWrite() // the guard sees the end of b
		_, _ = io.Copy(io.Discard, client)
		<-done
	})
}

func FuzzParseRequest(f *testing.F) {
	f.Add(handshake("PLAIN"))
	f.Add(authenticate(1, "\x00u\x00p"))
	f.Add(authenticate(2, "n,,n=u,r=x"))
	f.Add([]byte{0, 0, 0, 9, 0, 36, 0, 2, 0, 0, 0, 1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, minSize := range []int{0, 4} {
			n, err := frameLen(b, minSize, maxFrame)
			if err != nil || n == 0 || n > len(b) {
				continue
			}
			q, err := parseRequest(b[:n])
			if err == nil && len(q.auth) > n {
				t.Fatalf("auth bytes longer than the frame")
			}
			_ = saslAuthenticateError(b[:n], q.version)
			_, _, _ = parsePlain(b[4:n])
			_, _ = decodeSASLName(string(b[4:n]))
		}
	})
}
