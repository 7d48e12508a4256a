package gssapi

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// fuzzAcceptor is an acceptor over a keytab made here (no KDC needed):
// the fuzzer's tokens are garbage to it either way, and where they parse
// the keytab's key is looked up as with a real one.
var loopbackAddr = netip.MustParseAddr("127.0.0.1")

func fuzzAcceptor(f *testing.F) *Acceptor {
	kt := keytab.New()
	if err := kt.AddEntry("kafka/localhost", "KGATE.TEST", "fuzz-password", time.Unix(0, 0), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		f.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(f.TempDir(), "kafka.keytab")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		f.Fatal(err)
	}
	a, err := New(Config{Keytab: path, ServicePrincipal: "kafka/localhost@KGATE.TEST"})
	if err != nil {
		f.Fatal(err)
	}
	return a
}

// FuzzStep feeds arbitrary first and second messages to a session: it
// never panics, refuses with a typed reason, never authenticates, and
// answers at most an AP-REP or offer of bounded size.
func FuzzStep(f *testing.F) {
	a := fuzzAcceptor(f)
	// Seeds: framing prefixes, a krb5 initial token holding garbage, a
	// wrap token, and the shape of a real AP-REQ header.
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0x60, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00}, []byte{})
	f.Add(frameToken(tokAPReq, []byte{0x6e, 0x82, 0x01, 0x00, 0x30, 0x82, 0x00, 0xfc, 0xa0, 0x03, 0x02, 0x01, 0x05}), []byte{5, 4, 0, 0xff, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})
	f.Add(frameToken(tokAPReq, []byte{0x6e, 0x03, 0x30, 0x01, 0x00}), []byte{5, 4, 2, 0xff, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x60, 0x84, 0xff, 0xff, 0xff, 0xff}, []byte{0x60, 0x80})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		s := a.Start(loopbackAddr)
		ctx := context.Background()
		reply, done, err := s.Step(ctx, first)
		if done {
			t.Fatal("authenticated by the first message")
		}
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("untyped refusal: %v", err)
			}
		} else if len(reply) > 1024 {
			t.Fatalf("reply of %d bytes", len(reply))
		}
		reply, done, err = s.Step(ctx, second)
		if done {
			t.Fatal("authenticated by garbage")
		}
		if err != nil && ReasonOf(err) == "" {
			t.Fatalf("untyped refusal: %v", err)
		}
		if len(reply) > 1024 {
			t.Fatalf("reply of %d bytes", len(reply))
		}
		if s.User() != "" || s.Principal() != "" {
			t.Fatal("a session not done names a client")
		}
	})
}
