package push

import (
	"context"
	"errors"
	"sync"
)

// MaxCredit bounds what a client may have granted and not yet used.
const MaxCredit = 1 << 30

// Errors of Grant.
var (
	ErrCreditOverflow = errors.New("credit would exceed 1073741824 records")
	ErrCreditInvalid  = errors.New("credit must be a positive whole number of records")
)

// Credit is a WebSocket client's flow control: how many more records the
// server may send. The client grants, the stream spends what it sends;
// at zero the stream reads nothing more. It is safe for concurrent use.
type Credit struct {
	// mu guards n and more.
	mu   sync.Mutex
	n    int64
	more chan struct{} // closed at the next grant
}

// NewCredit returns a credit of n.
func NewCredit(n int64) *Credit { return &Credit{n: n, more: make(chan struct{})} }

// Grant adds n (at least 1).
func (c *Credit) Grant(n int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n <= 0 {
		return ErrCreditInvalid
	}
	if c.n+n > MaxCredit {
		return ErrCreditOverflow
	}
	c.n += n
	close(c.more)
	c.more = make(chan struct{})
	return nil
}

// Wait returns the credit once it is above zero, or ctx's error.
func (c *Credit) Wait(ctx context.Context) (int64, error) {
	for {
		c.mu.Lock()
		n, more := c.n, c.more
		c.mu.Unlock()
		if n > 0 {
			return n, nil
		}
		select {
		case <-more:
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
	}
}

// Spend takes n records sent off the credit.
func (c *Credit) Spend(n int64) {
	c.mu.Lock()
	c.n -= n
	c.mu.Unlock()
}

// Available is what is left.
func (c *Credit) Available() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
