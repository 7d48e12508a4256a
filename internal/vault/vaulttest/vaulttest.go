// Package vaulttest runs a Kerberos-Vault-compatible blob endpoint for
// tests: GET /api/storage/blob with the four X-Kerberos-Storage-* headers,
// answering 401 with Vault's key-echoing body when the keys are wrong.
package vaulttest

import (
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Server is a fake Vault. Its fields may be changed between requests
// through the methods; it is safe for concurrent use.
type Server struct {
	URL string

	AccessKey, SecretKey string

	mu     sync.Mutex
	files  map[string][]byte // provider + "\x00" + key
	fail   int               // answer this many requests with failStatus first
	status int

	Requests atomic.Int64
}

// New starts a fake Vault on loopback that accepts the given keys; it stops
// when the test ends.
func New(t testing.TB, accessKey, secretKey string) *Server {
	s := &Server{AccessKey: accessKey, SecretKey: secretKey, files: map[string][]byte{}}
	ts := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// Put stores a recording under provider and key.
func (s *Server) Put(provider, key string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[provider+"\x00"+key] = b
}

// FailNext makes the next n requests fail with status.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail, s.status = n, status
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.Requests.Add(1)
	if r.Method != http.MethodGet || r.URL.Path != "/api/storage/blob" {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	if s.fail > 0 {
		s.fail--
		status := s.status
		s.mu.Unlock()
		http.Error(w, "temporarily broken", status)
		return
	}
	s.mu.Unlock()
	name := r.Header.Get("X-Kerberos-Storage-FileName")
	provider := r.Header.Get("X-Kerberos-Storage-Provider")
	ak := r.Header.Get("X-Kerberos-Storage-AccessKey")
	sk := r.Header.Get("X-Kerberos-Storage-SecretAccessKey")
	if name == "" || provider == "" || ak == "" || sk == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"data":"missing headers"}`)
		return
	}
	if ak != s.AccessKey || sk != s.SecretKey {
		// What Vault answers: the submitted keys echoed back.
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"data":"account for %s and %s was not found."}`, ak, sk)
		return
	}
	s.mu.Lock()
	b, ok := s.files[provider+"\x00"+name]
	s.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"data":"file not found"}`)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Content-Disposition", "attachment; filename="+name)
	w.Header().Set("Content-Transfer-Encoding", "binary")
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		// Vault gzips its answers.
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		gz.Write(b)
		gz.Close()
		return
	}
	w.Write(b)
}
