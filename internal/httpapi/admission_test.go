package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"
)

// TestAdmission: past the limit a request waits in the queue; a full
// queue sheds at once; a wait that runs out sheds; a freed slot goes to
// the one waiting; a client that leaves while queued is not counted as
// shed.
func TestAdmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := NewAdmission(1, 1, 100*time.Millisecond)
		ctx := context.Background()
		if err := a.acquire(ctx); err != nil {
			t.Fatalf("first: %v", err)
		}
		waited := make(chan error, 1)
		go func() { waited <- a.acquire(ctx) }()
		synctest.Wait()
		if a.Queued() != 1 {
			t.Fatalf("queued %d, want 1", a.Queued())
		}
		start := time.Now()
		if err := a.acquire(ctx); !errors.Is(err, ErrBusy) || time.Since(start) != 0 {
			t.Fatalf("with the queue full: %v after %s, want ErrBusy at once", err, time.Since(start))
		}
		// The queued one times out.
		if err := <-waited; !errors.Is(err, ErrBusy) || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("queued: %v after %s, want ErrBusy after the 100ms wait", err, time.Since(start))
		}
		if a.Shed() != 2 {
			t.Errorf("shed %d, want 2", a.Shed())
		}
		// A release hands the slot to the one waiting.
		go func() { waited <- a.acquire(ctx) }()
		time.Sleep(50 * time.Millisecond)
		a.release()
		if err := <-waited; err != nil {
			t.Fatalf("after a release: %v", err)
		}
		// A client leaving while queued gets its context's error.
		cctx, cancel := context.WithCancel(ctx)
		go func() { waited <- a.acquire(cctx) }()
		synctest.Wait()
		cancel()
		if err := <-waited; !errors.Is(err, context.Canceled) {
			t.Fatalf("client gone: %v", err)
		}
		if a.Shed() != 2 || a.Queued() != 0 || a.InFlight() != 1 {
			t.Errorf("shed %d queued %d in flight %d, want 2 0 1", a.Shed(), a.Queued(), a.InFlight())
		}
		a.release()
	})
}

// TestAdmissionDisabled: a limit of 0 admits everything.
func TestAdmissionDisabled(t *testing.T) {
	if a := NewAdmission(0, 10, time.Second); a != nil {
		t.Fatalf("NewAdmission(0) = %v, want nil (no admission)", a)
	}
}

// TestAdmitSkips: with every slot taken and no queue, ordinary routes are
// shed while probes, streams and long routes (long polls, push streams)
// are served: their own caps bound them.
func TestAdmitSkips(t *testing.T) {
	a := NewAdmission(1, 0, time.Millisecond)
	if err := a.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.release()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, c := range []struct {
		rt   Route
		want int
	}{
		{Route{Name: "ordinary"}, http.StatusServiceUnavailable},
		{Route{Name: "probe", Probe: true}, http.StatusTeapot},
		{Route{Name: "stream", Stream: true}, http.StatusTeapot},
		{Route{Name: "long", Long: true}, http.StatusTeapot},
	} {
		rec := httptest.NewRecorder()
		Admit(a)(c.rt, ok).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != c.want {
			t.Errorf("%s route with admission full: %d, want %d", c.rt.Name, rec.Code, c.want)
		}
	}
}
