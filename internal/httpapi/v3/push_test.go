package v3_test

import (
	"bufio"
	"context"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/push"
	"github.com/kgate/kgate/internal/testutil"
)

// TestPushStreamsLeaveNothing opens push streams over SSE and WebSocket
// and drops them from the client side, abruptly and cleanly; TestMain's
// goleak check fails the package if a stream's watcher, WebSocket reader
// or Kafka client outlives it.
func TestPushStreamsLeaveNothing(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) { c.HTTP.StreamHeartbeat = config.Duration(100 * time.Millisecond) })
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Info.BrokerAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), 1, -1, nil, "leak"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "leak", Value: []byte(`"x"`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	url := g.URL + "/v3/clusters/kgate-embedded/topics/leak/records/stream?from=earliest&format=json"
	// Warm up the gateway's shared Kafka client (its connections are
	// not the streams'): a start past the end lists the offsets, then 400.
	if r, err := http.Get(url + "&position=" + push.Position{99}.Encode("leak")); err != nil || r.StatusCode != http.StatusBadRequest {
		t.Fatalf("warm-up: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	for _, abrupt := range []bool{false, true} {
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(resp.Body)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, "data: ") {
				if !strings.Contains(line, `"value":"x"`) {
					t.Errorf("event data %q", line)
				}
				break
			}
		}
		if abrupt {
			cancel()
		} else {
			resp.Body.Close()
			cancel()
		}

		wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
		c, _, err := websocket.Dial(wctx, "ws"+strings.TrimPrefix(url, "http"), &websocket.DialOptions{Subprotocols: []string{"kgate.v1"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Write(wctx, websocket.MessageText, []byte(`{"credit":1}`)); err != nil {
			t.Fatal(err)
		}
		_, b, err := c.Read(wctx)
		if err != nil || !strings.Contains(string(b), `"type":"record"`) {
			t.Fatalf("first message %s %v", b, err)
		}
		if abrupt {
			c.CloseNow()
		} else {
			_ = c.Close(websocket.StatusNormalClosure, "")
		}
		wcancel()
	}
	// Each stream ends on the server when its client goes, not only
	// when the gateway stops: the goroutines come back to the baseline.
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline+2 {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Errorf("%d goroutines after the streams closed, %d before:\n%s", n, baseline, b.String())
	}
	g.Stop()
}
