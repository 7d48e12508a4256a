package auth

import (
	"testing"
	"time"
)

// BenchmarkVerify compares a cached verification with a full signature
// check per algorithm:
//
//	go test -run '^$' -bench Verify -benchtime 200x ./internal/auth/
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"ES512", "ES256", "EdDSA", "HS256"} {
		b.Run(alg, func(b *testing.B) {
			tk := testTokens(b, alg)
			s, _, _ := tk.issue("alice", time.Now())
			b.Run("cached", func(b *testing.B) {
				for range b.N {
					if _, err := tk.verify(s); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("signature", func(b *testing.B) {
				for range b.N {
					if _, err := tk.verifySignature(s); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
