package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// macer computes HMAC-SHA256s under one key, reusing the hash states
// between calls: hmac.New allocates half a dozen objects, and the
// password cache and the attempts' name keys take an HMAC on every
// request with Basic credentials. It is safe for concurrent use.
type macer struct {
	pool sync.Pool // of *macState
}

type macState struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

func newMacer(key []byte) *macer {
	k := append([]byte(nil), key...)
	m := &macer{}
	m.pool.New = func() any { return &macState{h: hmac.New(sha256.New, k)} }
	return m
}

// sum returns the HMAC of the concatenation of parts.
func (m *macer) sum(parts ...string) [sha256.Size]byte {
	st := m.pool.Get().(*macState)
	st.h.Reset()
	st.buf = st.buf[:0]
	for _, p := range parts {
		st.buf = append(st.buf, p...)
	}
	st.h.Write(st.buf)
	out := [sha256.Size]byte(st.h.Sum(st.sum[:0]))
	clear(st.buf) // what was hashed (a password) does not wait in the pool
	m.pool.Put(st)
	return out
}
