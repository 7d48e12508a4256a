package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"
	"testing"
)

// TestMacerMatchesHMAC: the pooled HMAC is hmac.New's, call after call
// and from goroutines at once (a reused state is reset).
func TestMacerMatchesHMAC(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	m := newMacer(key)
	want := func(s string) [32]byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return [32]byte(h.Sum(nil))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				name, pw := string(rune('a'+g)), string(make([]byte, i))
				if got := m.sum(name, "\x00", pw); got != want(name+"\x00"+pw) {
					t.Errorf("sum(%q, 0, %d bytes) differs from hmac", name, i)
					return
				}
			}
		})
	}
	wg.Wait()
}
