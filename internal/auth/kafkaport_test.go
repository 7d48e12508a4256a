package auth

import (
	"encoding/binary"
	"testing"
)

func TestSASLUser(t *testing.T) {
	tests := []struct {
		mech, auth, want string
	}{
		{"PLAIN", "\x00alice\x00pw", "alice"},
		{"PLAIN", "alice\x00alice\x00pw", "alice"},
		{"PLAIN", "nonul", ""},
		{"SCRAM-SHA-512", "n,,n=alice,r=abc", "alice"},
		{"SCRAM-SHA-256", "n,a=alice,n=alice,r=abc", "alice"},
		{"SCRAM-SHA-256", "y,,n=a=2Cb=3Dc,r=abc", "a,b=c"},
		{"SCRAM-SHA-256", "n,,r=abc", ""},
		{"SCRAM-SHA-256", "garbage", ""},
		{"GSSAPI", "whatever", ""},
	}
	for _, tt := range tests {
		if got := saslUser(tt.mech, []byte(tt.auth)); got != tt.want {
			t.Errorf("saslUser(%s, %q) = %q, want %q", tt.mech, tt.auth, got, tt.want)
		}
	}
}

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

func TestSASLSniffer(t *testing.T) {
	apiVersions := req(18, 3, []byte{6, 'k', 'g', 'a', 't', 'e', 2, '1', 0}, true)
	for _, v := range []int16{0, 1, 2} {
		stream := append(append(append([]byte{}, apiVersions...), handshake("SCRAM-SHA-512")...), authenticate(v, "n,,n=customer1,r=nonce")...)
		// Fed in small pieces, as TCP may deliver it.
		var s SASLSniffer
		var user string
		var done bool
		for i := 0; i < len(stream); i += 3 {
			end := min(i+3, len(stream))
			u, d, err := s.Feed(stream[i:end])
			if err != nil {
				t.Fatalf("v%d: %v", v, err)
			}
			if d {
				user, done = u, d
				break
			}
		}
		if !done || user != "customer1" {
			t.Errorf("v%d: user %q done %v", v, user, done)
		}
	}
	var s SASLSniffer
	if _, _, err := s.Feed([]byte{0x7f, 0xff, 0xff, 0xff}); err == nil {
		t.Error("a 2 GiB frame before authentication was accepted")
	}
	s = SASLSniffer{}
	var err error
	for i := 0; i <= sniffMaxFrames && err == nil; i++ {
		_, _, err = s.Feed(apiVersions)
	}
	if err == nil {
		t.Error("endless requests before authentication were accepted")
	}
}

func FuzzSASLSniffer(f *testing.F) {
	f.Add(append(handshake("PLAIN"), authenticate(1, "\x00u\x00p")...))
	f.Add(append(handshake("SCRAM-SHA-256"), authenticate(2, "n,,n=u,r=x")...))
	f.Add([]byte{0, 0, 0, 9, 0, 36, 0, 2, 0, 0, 0, 1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s SASLSniffer
		_, _, _ = s.Feed(b)
		if len(s.buf) > sniffMaxFrame+4+len(b) {
			t.Fatalf("buffered %d bytes", len(s.buf))
		}
	})
}
