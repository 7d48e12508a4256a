package auth

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkAuthenticate compares the per-request cost of HTTP Basic (with
// the bcrypt cache warm) and of a Bearer token (verified-token cache warm,
// revocation checked in memory):
//
//	go test -run '^$' -bench Authenticate ./internal/auth/
func BenchmarkAuthenticate(b *testing.B) {
	s := testService(b, nil)
	s.store = &TokenStore{byID: map[string]tokenRecord{}, bySub: map[string]map[string]struct{}{}, revokedBefore: map[string]int64{}}
	tok, c, err := s.jwt.issueFor("customer1", fingerprint(s.Policy().users.Lookup("customer1")), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	s.store.apply(tokenKeyPrefix+c.ID, []byte(`{"sub":"customer1","iat_ms":1,"exp_ms":`+strconv.FormatInt(c.ExpiresAt.UnixMilli(), 10)+`}`))
	for _, tt := range []struct{ name, header string }{
		{"basic", "Basic Y3VzdG9tZXIxOnBhc3N3b3JkMQ=="},
		{"bearer", "Bearer " + tok},
		{"anonymous", ""},
	} {
		b.Run(tt.name, func(b *testing.B) {
			r := request("127.0.0.1:1")
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if _, err := s.Authenticate(r); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Authenticate(r); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
