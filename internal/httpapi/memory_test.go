package httpapi

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestMemoryBudget: takes wait up to a second for room, then fail with
// ErrOverloaded; what an account holds goes back at Close; a take larger
// than the budget waits for all of it.
func TestMemoryBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(100)
		a, b := NewAccount(m), NewAccount(m)
		ctx := context.Background()
		if err := a.Take(ctx, 80); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := b.Take(ctx, 30); !errors.Is(err, ErrOverloaded) {
			t.Fatalf("over the budget: %v", err)
		}
		if el := time.Since(start); el != memoryWait {
			t.Errorf("waited %v, want %v", el, memoryWait)
		}
		if b.TryTake(30) || !b.TryTake(20) {
			t.Error("TryTake: want room for 20, not 30")
		}
		done := make(chan error)
		go func() { done <- b.Take(ctx, 1000) }() // clamped: the whole budget
		time.Sleep(500 * time.Millisecond)
		a.Close()
		b.Give(20)
		if err := <-done; err != nil {
			t.Fatalf("the whole budget once free: %v", err)
		}
		if m.Held() != 100 || b.Held() != 100 {
			t.Errorf("held %d (account %d), want 100", m.Held(), b.Held())
		}
		b.Close()
		if m.Held() != 0 {
			t.Errorf("held %d after Close", m.Held())
		}
		var none *Account
		if err := none.Take(ctx, 1<<40); err != nil || !none.TryTake(1) {
			t.Error("a nil account takes nothing")
		}
	})
}
