package httpapi

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// memoryWait is how long a request waits for memory to free up before it
// is answered 503.
const memoryWait = time.Second

// Memory is the process's budget for what requests in flight hold:
// bodies as they are read, decoded records, a stream's records in
// flight. A request that finds no room within a second is answered 503
// with Retry-After, so that the process stays near its size whatever
// arrives. It is safe for concurrent use.
type Memory struct {
	sem  *semaphore.Weighted
	size int64
	held atomic.Int64
}

// NewMemory returns a budget of size bytes.
func NewMemory(size int64) *Memory {
	return &Memory{sem: semaphore.NewWeighted(size), size: size}
}

// Size returns the budget.
func (m *Memory) Size() int64 { return m.size }

// Held returns what requests hold now.
func (m *Memory) Held() int64 { return m.held.Load() }

// take reserves n bytes (at most the whole budget: such a request runs
// alone), waiting up to memoryWait.
func (m *Memory) take(ctx context.Context, n int64) (int64, error) {
	n = min(n, m.size)
	if !m.sem.TryAcquire(n) {
		wctx, cancel := context.WithTimeout(ctx, memoryWait)
		err := m.sem.Acquire(wctx, n)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, ErrOverloaded.Wrap(err)
		}
	}
	m.held.Add(n)
	return n, nil
}

func (m *Memory) give(n int64) {
	if n > 0 {
		m.held.Add(-n)
		m.sem.Release(n)
	}
}

// Account is one request's share of the budget: what it took is given
// back when the request ends (Close). A nil Account (no budget) takes
// and gives nothing. It is safe for concurrent use.
type Account struct {
	m    *Memory
	held atomic.Int64
}

// NewAccount opens an account on m (nil: none).
func NewAccount(m *Memory) *Account {
	if m == nil {
		return nil
	}
	return &Account{m: m}
}

// Take reserves n more bytes for the request, waiting up to a second; it
// returns ErrOverloaded (503) when the budget stays full.
func (a *Account) Take(ctx context.Context, n int64) error {
	if a == nil || n <= 0 {
		return nil
	}
	got, err := a.m.take(ctx, n)
	a.held.Add(got)
	return err
}

// TryTake reserves n more bytes if they are free now.
func (a *Account) TryTake(n int64) bool {
	if a == nil || n <= 0 {
		return true
	}
	n = min(n, a.m.size)
	if !a.m.sem.TryAcquire(n) {
		return false
	}
	a.m.held.Add(n)
	a.held.Add(n)
	return true
}

// Give returns n bytes (at most what the account holds).
func (a *Account) Give(n int64) {
	if a == nil || n <= 0 {
		return
	}
	for {
		h := a.held.Load()
		g := min(n, h)
		if a.held.CompareAndSwap(h, h-g) {
			a.m.give(g)
			return
		}
	}
}

// Held returns what the account holds.
func (a *Account) Held() int64 {
	if a == nil {
		return 0
	}
	return a.held.Load()
}

// Close gives back everything the account holds.
func (a *Account) Close() {
	if a != nil {
		a.m.give(a.held.Swap(0))
	}
}

type accountKey struct{}

// withAccount returns ctx carrying the request's account.
func withAccount(ctx context.Context, a *Account) context.Context {
	return context.WithValue(ctx, accountKey{}, a)
}

// MemoryFrom returns the request's account, or nil (which takes
// nothing): handlers take what decoded records really cost from it.
func MemoryFrom(ctx context.Context) *Account {
	a, _ := ctx.Value(accountKey{}).(*Account)
	return a
}

// bodyChunk is how far ahead a body of unknown length is reserved.
const bodyChunk = 64 << 10

// accountedBody reserves the bytes of a body of unknown length as they
// are read.
type accountedBody struct {
	io.ReadCloser
	ctx            context.Context
	a              *Account
	read, reserved int64
}

func (b *accountedBody) Read(p []byte) (int, error) {
	if b.read+int64(len(p)) > b.reserved {
		if err := b.a.Take(b.ctx, bodyChunk); err != nil {
			return 0, err
		}
		b.reserved += bodyChunk
		p = p[:min(int64(len(p)), b.reserved-b.read)]
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	return n, err
}

// admit opens the request's account and reserves its declared body (up
// to maxBody); a body of unknown length is reserved as it is read.
// Streams reserve for themselves.
func admit(r *http.Request, m *Memory, rt Route, maxBody int64) (*http.Request, *Account, error) {
	r2, a := openAccount(r, m)
	if r.Body == nil || r.Body == http.NoBody || rt.Stream {
		return r2, a, nil
	}
	if r.ContentLength > 0 {
		// net/http never reads more than the declared length.
		if err := a.Take(r.Context(), min(r.ContentLength, maxBody+1)); err != nil {
			return r, a, err
		}
		return r2, a, nil
	}
	r2.Body = &accountedBody{ReadCloser: r.Body, ctx: r2.Context(), a: a}
	return r2, a, nil
}

// openAccount opens r's account on m, kept in the chain's state of r
// when there is one (r itself is returned), else on a derived context.
func openAccount(r *http.Request, m *Memory) (*http.Request, *Account) {
	if q := requestFrom(r.Context()); q != nil && m != nil && !q.hasAccount {
		q.account.m, q.hasAccount = m, true
		return r, &q.account
	}
	a := NewAccount(m)
	return r.WithContext(withAccount(r.Context(), a)), a
}
