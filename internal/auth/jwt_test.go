package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func testTokens(t testing.TB, alg string) *tokens {
	t.Helper()
	k, err := loadSigningKey(alg, "", t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return newTokens(k, "kgate", "kgate", time.Hour, 5*time.Second)
}

// sign signs claims with the service's own key and algorithm.
func sign(t testing.TB, tk *tokens, c jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(tk.key.method, c)
	tok.Header["kid"] = tk.key.kid
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(tk.key.sign)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTRoundTrip(t *testing.T) {
	for _, alg := range []string{"ES512", "ES384", "ES256", "EdDSA", "HS512", "HS256"} {
		t.Run(alg, func(t *testing.T) {
			tk := testTokens(t, alg)
			s, c, err := tk.issue("alice", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			got, err := tk.verify(s)
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != "alice" || got.ID != c.ID || got.ID == "" {
				t.Errorf("claims = %+v", got.RegisteredClaims)
			}
			hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(s, ".")[0])
			if !strings.Contains(string(hdr), `"alg":"`+alg+`"`) {
				t.Errorf("header %s does not name %s", hdr, alg)
			}
		})
	}
}

func TestJWTDefaultIsES512WithP521(t *testing.T) {
	tk := testTokens(t, "ES512")
	k, ok := tk.key.sign.(*ecdsa.PrivateKey)
	if !ok || k.Curve != elliptic.P521() {
		t.Fatalf("ES512 key is %T", tk.key.sign)
	}
}

func TestJWTAttacks(t *testing.T) {
	tk := testTokens(t, "ES512")
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "kgate", "aud": "kgate", "sub": "alice", "jti": "j1",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	good := sign(t, tk, valid(), nil)
	if _, err := tk.verify(good); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
	parts := strings.Split(good, ".")

	// alg none: the header says none and there is no signature.
	noneHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	algNone := noneHdr + "." + parts[1] + "."

	// HS/ES confusion: HS512 keyed with the public key's PEM, which an
	// attacker may know.
	pubDER, _ := x509.MarshalPKIXPublicKey(tk.key.verify)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs := jwt.NewWithClaims(jwt.SigningMethodHS512, valid())
	hs.Header["kid"] = tk.key.kid
	confused, err := hs.SignedString(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	confusedDER, _ := hs.SignedString(pubDER)

	// Another ES512 key.
	other, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	ot := jwt.NewWithClaims(jwt.SigningMethodES512, valid())
	ot.Header["kid"] = tk.key.kid
	otherKey, _ := ot.SignedString(other)

	// Tampered payload: same signature, another subject.
	c := valid()
	c["sub"] = "admin"
	tamperedPayload := parts[0] + "." + strings.Split(sign(t, tk, c, nil), ".")[1] + "." + parts[2]
	sig := []byte(parts[2])
	sig[10] ^= 1
	tamperedSig := parts[0] + "." + parts[1] + "." + string(sig)

	tests := []struct {
		name, token string
	}{
		{"alg none", algNone},
		{"HS512 with the public key PEM", confused},
		{"HS512 with the public key DER", confusedDER},
		{"other key", otherKey},
		{"expired", sign(t, tk, with("exp", now.Add(-time.Minute).Unix()), nil)},
		{"not yet valid", sign(t, tk, with("nbf", now.Add(time.Minute).Unix()), nil)},
		{"issued in the future", sign(t, tk, with("iat", now.Add(time.Minute).Unix()), nil)},
		{"no exp", sign(t, tk, with("exp", nil), nil)},
		{"no iat", sign(t, tk, with("iat", nil), nil)},
		{"no jti", sign(t, tk, with("jti", nil), nil)},
		{"no sub", sign(t, tk, with("sub", nil), nil)},
		{"wrong issuer", sign(t, tk, with("iss", "Kastlex"), nil)},
		{"no issuer", sign(t, tk, with("iss", nil), nil)},
		{"wrong audience", sign(t, tk, with("aud", "someone-else"), nil)},
		{"no audience", sign(t, tk, with("aud", nil), nil)},
		{"wrong kid", sign(t, tk, valid(), map[string]any{"kid": "other"})},
		{"tampered payload", tamperedPayload},
		{"tampered signature", tamperedSig},
		{"garbage", "not.a.token"},
		{"empty", ""},
		{"oversized", good + strings.Repeat("A", maxTokenLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tk.verify(tt.token); !errors.Is(err, errBadToken) {
				t.Errorf("verify = %v, want errBadToken", err)
			}
		})
	}
}

func TestJWTExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tk := testTokens(t, "ES256")
		s, _, err := tk.issue("alice", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour - time.Second)
		if _, err := tk.verify(s); err != nil {
			t.Fatalf("token refused before expiry: %v", err)
		}
		// Expired, but within the leeway.
		time.Sleep(3 * time.Second)
		if _, err := tk.verify(s); err != nil {
			t.Fatalf("token refused within the leeway: %v", err)
		}
		time.Sleep(5 * time.Second)
		if _, err := tk.verify(s); !errors.Is(err, errBadToken) {
			t.Fatalf("expired token accepted: %v", err)
		}
	})
}

func TestGeneratedKey(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	k1, err := loadSigningKey("ES512", "", dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	path := GeneratedKeyPath(dir, "ES512")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	k2, err := loadSigningKey("ES512", "", dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	if k1.kid != k2.kid {
		t.Error("the generated key was not reused")
	}
	// A key for another algorithm does not fit.
	if _, err := loadSigningKey("ES256", path, "", logger); err == nil {
		t.Error("a P-521 key was accepted for ES256")
	}
}

func TestKastleXKeyFile(t *testing.T) {
	// openssl ecparam -name secp521r1 -genkey writes EC PARAMETERS then
	// EC PRIVATE KEY; KastleX's jwk.pem is such a file.
	priv, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(priv)
	params := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23}})
	key := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	path := filepath.Join(t.TempDir(), "jwk.pem")
	if err := os.WriteFile(path, append(params, key...), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := loadSigningKey("ES512", path, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !k.sign.(*ecdsa.PrivateKey).Equal(priv) {
		t.Error("loaded another key")
	}
}

func TestHMACSecretTooShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSigningKey("HS512", path, "", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a 5-byte HMAC secret was accepted")
	}
}
