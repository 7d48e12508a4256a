package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// wsMessage is what the server sends on a push WebSocket.
type wsMessage struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Record    json.RawMessage `json:"record"`
	ErrorCode int             `json:"error_code"`
	Message   string          `json:"message"`
	Reason    string          `json:"reason"`
	at        time.Time
}

// wsStream is a push WebSocket whose messages a goroutine reads.
type wsStream struct {
	c    *websocket.Conn
	msgs chan wsMessage
	err  chan error // the read error that ended it (a close frame: websocket.CloseError)
}

func dialPush(t *testing.T, url string, protocols []string, header http.Header) (*wsStream, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http"), &websocket.DialOptions{Subprotocols: protocols, HTTPHeader: header})
	if err != nil {
		return nil, resp, err
	}
	s := &wsStream{c: c, msgs: make(chan wsMessage, 100000), err: make(chan error, 1)}
	t.Cleanup(func() { c.CloseNow() })
	go func() {
		defer close(s.msgs)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				s.err <- err
				return
			}
			var m wsMessage
			if err := json.Unmarshal(b, &m); err != nil {
				s.err <- fmt.Errorf("message %q: %w", b, err)
				return
			}
			m.at = time.Now()
			s.msgs <- m
		}
	}()
	return s, resp, nil
}

func (s *wsStream) credit(t *testing.T, n int) {
	t.Helper()
	if err := s.c.Write(t.Context(), websocket.MessageText, fmt.Appendf(nil, `{"credit":%d}`, n)); err != nil {
		t.Fatal(err)
	}
}

// records reads messages for d and returns the records among them;
// other messages than records and heartbeats fail t.
func (s *wsStream) records(t *testing.T, d time.Duration) []wsMessage {
	t.Helper()
	var out []wsMessage
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				return out
			}
			switch m.Type {
			case "heartbeat":
			case "record":
				out = append(out, m)
			default:
				t.Fatalf("message %+v", m)
			}
		case <-timer.C:
			return out
		}
	}
}

// end reads until the end message and the close frame.
func (s *wsStream) end(t *testing.T) (wsMessage, websocket.CloseError) {
	t.Helper()
	var end wsMessage
	for m := range s.msgs {
		if m.Type == "end" {
			end = m
		}
	}
	var ce websocket.CloseError
	if err := <-s.err; !errors.As(err, &ce) {
		t.Fatalf("the WebSocket ended with %v, want a close frame", err)
	}
	return end, ce
}

func recordValues(t *testing.T, ms []wsMessage) []string {
	t.Helper()
	var vs []string
	for _, m := range ms {
		var r pushRecord
		if err := json.Unmarshal(m.Record, &r); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, *r.Value)
	}
	return vs
}

// TestPushWebSocketCredit: the server sends no more records than the
// client granted, waits at zero, and goes on when granted more; the ids
// resume like SSE's.
func TestPushWebSocketCredit(t *testing.T) {
	g := testutil.StartGateway(t, fastPush)
	cl := pushTopic(t, g, "push-ws", 1)
	var vals []string
	for i := range 40 {
		vals = append(vals, fmt.Sprint(i))
	}
	pushValues(t, cl, "push-ws", vals)
	s, resp, err := dialPush(t, streamURL(g, "push-ws", "from=earliest&format=string"), []string{"kgate.v1"}, nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	if p := s.c.Subprotocol(); p != "kgate.v1" {
		t.Errorf("subprotocol %q", p)
	}
	if got := s.records(t, 500*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d records without credit", len(got))
	}
	s.credit(t, 3)
	got := s.records(t, time.Second)
	if v := recordValues(t, got); !slices.Equal(v, []string{"0", "1", "2"}) {
		t.Fatalf("credit 3: %v", v)
	}
	s.credit(t, 5)
	more := s.records(t, time.Second)
	if v := recordValues(t, more); !slices.Equal(v, []string{"3", "4", "5", "6", "7"}) {
		t.Fatalf("credit 5 more: %v", v)
	}
	// Resume an SSE stream from the last WebSocket id.
	sse := openSSE(t, streamURL(g, "push-ws", "format=string"), "Last-Event-ID", more[len(more)-1].ID)
	if v := values(decodeRecords(t, sse.records(32, 10*time.Second))); len(v) != 32 || !slices.Contains(v, "8") || slices.Contains(v, "7") {
		t.Errorf("resumed from the WebSocket's last id: %v", v)
	}
	// A message that is not credit ends the stream.
	if err := s.c.Write(t.Context(), websocket.MessageText, []byte(`{"credit":-1}`)); err != nil {
		t.Fatal(err)
	}
	end, ce := s.end(t)
	if end.ErrorCode != 400 || end.Reason != "protocol" || ce.Code != websocket.StatusPolicyViolation {
		t.Errorf("bad credit: end %+v, close %v", end, ce)
	}
}

// TestPushWebSocketLimit: limit=N ends a WebSocket after N records with
// an end message (reason limit) and a normal close, whatever credit is
// left.
func TestPushWebSocketLimit(t *testing.T) {
	g := testutil.StartGateway(t, fastPush)
	cl := pushTopic(t, g, "push-ws-limit", 1)
	pushValues(t, cl, "push-ws-limit", []string{"0", "1", "2", "3", "4", "5"})
	s, resp, err := dialPush(t, streamURL(g, "push-ws-limit", "from=earliest&format=string&limit=4"), []string{"kgate.v1"}, nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	s.credit(t, 100)
	var got []wsMessage
	for m := range s.msgs {
		if m.Type == "record" {
			got = append(got, m)
		}
		if m.Type == "end" {
			if m.Reason != "limit" || m.ErrorCode != 0 {
				t.Errorf("end %+v, want reason limit and no error", m)
			}
		}
	}
	if v := recordValues(t, got); !slices.Equal(v, []string{"0", "1", "2", "3"}) {
		t.Errorf("limit 4: %v", v)
	}
	var ce websocket.CloseError
	if err := <-s.err; !errors.As(err, &ce) || ce.Code != websocket.StatusNormalClosure {
		t.Errorf("closed with %v, want a normal closure", err)
	}
}

// TestPushWebSocketAuth: browsers offer their bearer token as a
// subprotocol (never in the URL); the server answers kgate.v1 and never
// echoes the token. A page from a foreign origin is refused unless
// http.allowed_origins names it. Revoking the token closes the socket
// with 1008 and a reason within a second.
func TestPushWebSocketAuth(t *testing.T) {
	g, _ := reloadGateway(t)
	cl := pushTopic(t, g, "customer1", 1)
	pushValues(t, cl, "customer1", []string{"a", "b"})
	url := streamURL(g, "customer1", "from=earliest&format=string")
	if _, resp, err := dialPush(t, url, []string{"kgate.v1"}, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no credentials: %v %v", err, resp)
	}
	if _, resp, err := dialPush(t, url, []string{"kgate.v1", "kgate.bearer.not-a-token"}, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a bad token: %v %v", err, resp)
	}
	tok := login(t, g.URL, "customer1")
	foreign := http.Header{"Origin": {"https://evil.example"}}
	if _, resp, err := dialPush(t, url, []string{"kgate.v1", "kgate.bearer." + tok}, foreign); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a foreign origin: %v %v", err, resp)
	}
	s, resp, err := dialPush(t, url, []string{"kgate.v1", "kgate.bearer." + tok}, nil)
	if err != nil {
		t.Fatalf("bearer subprotocol: %v %v", err, resp)
	}
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "kgate.v1" {
		t.Errorf("the server answered subprotocol %q, want kgate.v1 (never the token)", p)
	}
	s.credit(t, 10)
	if v := recordValues(t, s.records(t, time.Second)); !slices.Equal(v, []string{"a", "b"}) {
		t.Fatalf("records %v", v)
	}
	start := time.Now()
	if r := do(t, "DELETE", g.URL+"/admin/tokens/customer1", "", "Authorization", basic("ops")); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	end, ce := s.end(t)
	if end.ErrorCode != 40101 || end.Reason != "unauthenticated" || !strings.Contains(end.Message, "revoked") {
		t.Errorf("end message %+v", end)
	}
	if ce.Code != websocket.StatusPolicyViolation || ce.Reason != "40101 unauthenticated" {
		t.Errorf("close frame %v", ce)
	}
	if el := end.at.Sub(start); el > time.Second {
		t.Errorf("closed %v after the revocation, want within 1s", el)
	}

	t.Run("allowed origin", func(t *testing.T) {
		users, perms := secureFiles(t)
		g := testutil.StartGateway(t, func(c *config.Config) {
			c.Auth.Users, c.Auth.Permissions = users, perms
			c.HTTP.AllowedOrigins = []string{"https://console.example"}
		})
		pushTopic(t, g, "customer1", 1)
		url := streamURL(g, "customer1", "")
		h := http.Header{"Origin": {"https://console.example"}, "Authorization": {seedAuth}}
		if _, resp, err := dialPush(t, url, []string{"kgate.v1"}, h); err != nil {
			t.Errorf("an allowed origin: %v %v", err, resp)
		}
		h.Set("Origin", "https://other.example")
		if _, resp, err := dialPush(t, url, []string{"kgate.v1"}, h); err == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("another origin: %v %v", err, resp)
		}
	})
}

// TestPushWebSocketNode reads a push stream with Node's built-in
// WebSocket (a browser's API: no headers, so the token goes as a
// subprotocol), granting credit as it goes.
func TestPushWebSocketNode(t *testing.T) {
	node := testutil.RequireTool(t, "node")
	if out, err := exec.Command(node, "--experimental-websocket", "-e", "if (typeof WebSocket !== 'function') process.exit(3)").CombinedOutput(); err != nil {
		testutil.Missing(t, "node has no built-in WebSocket (node 20.10+ with --experimental-websocket, or 22+): "+string(out))
	}
	g, _ := reloadGateway(t)
	cl := pushTopic(t, g, "customer1", 1)
	var vals []string
	for i := range 10 {
		vals = append(vals, fmt.Sprint("v", i))
	}
	pushValues(t, cl, "customer1", vals)
	const script = `
const ws = new WebSocket(process.env.URL, ["kgate.v1", "kgate.bearer." + process.env.TOKEN]);
const got = [];
ws.onopen = () => { ws.send(JSON.stringify({credit: 4})); };
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.type !== "record") return;
  got.push(m.record.value);
  if (got.length === 4) ws.send(JSON.stringify({credit: 3}));
  if (got.length === 7) { console.log(JSON.stringify({protocol: ws.protocol, values: got})); ws.close(1000); }
};
ws.onerror = (e) => { console.error("error", e.message); process.exit(1); };
setTimeout(() => { console.error("timeout", JSON.stringify(got)); process.exit(2); }, 10000);
ws.onclose = () => process.exit(0);
`
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--experimental-websocket", "--no-warnings", "-e", script)
	cmd.Env = append(os.Environ(), "URL=ws"+strings.TrimPrefix(streamURL(g, "customer1", "from=earliest&format=string"), "http"),
		"TOKEN="+login(t, g.URL, "customer1"))
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("node: %v\n%s\n%s", err, out, ee.Stderr)
		}
		t.Fatalf("node: %v", err)
	}
	var res struct {
		Protocol string   `json:"protocol"`
		Values   []string `json:"values"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node's output %q: %v", out, err)
	}
	if res.Protocol != "kgate.v1" || !slices.Equal(res.Values, vals[:7]) {
		t.Errorf("node read %+v, want kgate.v1 and %v", res, vals[:7])
	}
}

// TestPushSSECurl reads events with curl -N, as the README shows.
func TestPushSSECurl(t *testing.T) {
	curl := testutil.RequireTool(t, "curl")
	g := secureGateway(t, fastPush)
	cl := pushTopic(t, g, "customer1", 1)
	pushValues(t, cl, "customer1", []string{"one", "two", "three"})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// --max-time ends curl's read of the endless stream.
	cmd := exec.CommandContext(ctx, curl, "-sN", "--max-time", "2", "-u", "customer1:password1",
		"-H", "Accept: text/event-stream", streamURL(g, "customer1", "from=earliest&format=string"))
	out, _ := cmd.Output() // exit 28: the time limit, as intended
	text := string(out)
	var datas []string
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			var r pushRecord
			if err := json.Unmarshal([]byte(v), &r); err != nil {
				t.Fatalf("data %q: %v", v, err)
			}
			datas = append(datas, *r.Value)
		}
	}
	if !slices.Equal(datas, []string{"one", "two", "three"}) || !strings.Contains(text, "id: ") || !strings.Contains(text, ": heartbeat") {
		t.Errorf("curl read:\n%s", text)
	}
}

// TestPushOutlivesServerTimeouts: idle streams outlive the server's
// read and write timeouts (which bound ordinary requests from their
// start): an SSE stream and a WebSocket idle past both still deliver.
func TestPushOutlivesServerTimeouts(t *testing.T) {
	g := testutil.StartGateway(t, func(c *config.Config) {
		c.HTTP.ReadTimeout = config.Duration(time.Second)
		c.HTTP.WriteTimeout = config.Duration(time.Second)
		c.Consumers.RequestTimeout = config.Duration(100 * time.Millisecond)
		c.HTTP.StreamHeartbeat = config.Duration(5 * time.Second)
	})
	cl := pushTopic(t, g, "push-idle", 1)
	sse := openSSE(t, streamURL(g, "push-idle", "format=string"))
	ws, resp, err := dialPush(t, streamURL(g, "push-idle", "format=string"), []string{"kgate.v1"}, nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	time.Sleep(2500 * time.Millisecond)
	ws.credit(t, 1)
	pushValues(t, cl, "push-idle", []string{"late"})
	if v := values(decodeRecords(t, sse.records(1, 5*time.Second))); !slices.Equal(v, []string{"late"}) {
		t.Errorf("SSE after idling past the timeouts: %v", v)
	}
	if v := recordValues(t, ws.records(t, 2*time.Second)); !slices.Equal(v, []string{"late"}) {
		t.Errorf("WebSocket after idling past the timeouts: %v", v)
	}
}

// TestPushWebSocketShutdown: at shutdown a WebSocket stream ends with an
// end message (503, shutdown) and a going-away close frame.
func TestPushWebSocketShutdown(t *testing.T) {
	g := testutil.StartGateway(t, fastPush)
	pushTopic(t, g, "push-down", 1)
	s, resp, err := dialPush(t, streamURL(g, "push-down", ""), []string{"kgate.v1"}, nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	stopped := make(chan struct{})
	go func() { g.Stop(); close(stopped) }()
	end, ce := s.end(t)
	<-stopped // before the data directory goes
	if end.ErrorCode != 503 || end.Reason != "shutdown" || ce.Code != websocket.StatusGoingAway {
		t.Errorf("end %+v, close %v", end, ce)
	}
	if el := end.at.Sub(start); el > 2*time.Second {
		t.Errorf("ended %v after shutdown began", el)
	}
}
