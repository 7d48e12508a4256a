package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/tracing"
)

// Forwarder sends a request to the replica that can serve it, signed
// with the node secret on behalf of the caller this replica
// authenticated (and limited), and streams the answer back. It is safe
// for concurrent use.
type Forwarder struct {
	trust  *auth.NodeTrust
	client *http.Client
	logger *slog.Logger
	// answered and unreachable count forwards (nil: not counted).
	answered, unreachable prometheus.Counter
}

// NewForwarder returns a forwarder signing with trust; counts, if not
// nil, counts forwards by outcome ("answered", "unreachable").
func NewForwarder(trust *auth.NodeTrust, counts *prometheus.CounterVec, logger *slog.Logger) *Forwarder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tr := &http.Transport{
		Proxy:                 nil, // replicas talk directly
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	// No client timeout: a records read is a long poll that the
	// request's own context (the edge's write deadline, the client
	// leaving) bounds.
	f := &Forwarder{trust: trust, client: &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, logger: logger}
	if counts != nil {
		f.answered, f.unreachable = counts.WithLabelValues("answered"), counts.WithLabelValues("unreachable")
	}
	return f
}

func inc(c prometheus.Counter) {
	if c != nil {
		c.Inc()
	}
}

// Close releases idle connections.
func (f *Forwarder) Close() { f.client.CloseIdleConnections() }

// requestHeaders are the client's headers a forwarded request keeps;
// its credentials never travel (the signed principal stands for them).
var requestHeaders = []string{"Accept", "Content-Type", "Accept-Language", "User-Agent"}

// skipResponse are the owner's answer's headers the edge does not pass
// on: hop-by-hop ones, and those the edge sets itself.
var skipResponse = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true,
	"Te": true, "Trailer": true, "Upgrade": true, "Date": true, "X-Request-Id": true, NodeHeader: true,
	tracing.HTTPTraceparent: true, tracing.HTTPTracestate: true,
}

// NodeHeader names, on every answer, the replica that answered it.
const NodeHeader = "Kgate-Node"

// Forward sends r, whose body was body, to the replica at base and
// writes its answer to w, flushing as it arrives. A replica that does
// not answer is a 503 with Retry-After (it may be gone: once membership
// drops it, the instance is created again where it is asked for).
func (f *Forwarder) Forward(w http.ResponseWriter, r *http.Request, base string, body []byte) error {
	ctx := r.Context()
	p := auth.FromContext(ctx)
	if p == nil {
		p = &auth.Principal{Name: auth.Anonymous, Method: auth.MethodAnonymous}
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, strings.TrimSuffix(base, "/")+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	for _, h := range requestHeaders {
		if vs := r.Header.Values(h); len(vs) > 0 {
			out.Header[h] = vs
		}
	}
	// The client's Host, so that what the receiver builds from it (a
	// created instance's base_uri, without --advertised-url) names the
	// address the client used, not this replica's peer. TLS to the peer
	// still verifies the peer's own name, which comes from its URL.
	out.Host = r.Host
	out.Header.Set("X-Request-Id", httpapi.RequestID(ctx))
	// One trace across replicas: the holder continues this request's.
	tracing.Inject(ctx, out.Header)
	f.trust.Sign(out, p, body)
	resp, err := f.client.Do(out)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		inc(f.unreachable)
		f.logger.Warn("forwarding to the replica holding a consumer instance", "url", base, "request_id", httpapi.RequestID(ctx), "err", err)
		w.Header().Set("Retry-After", "1")
		return httpapi.ErrMoving.Msg("The replica holding this consumer instance did not answer; retry shortly.").Wrap(err)
	}
	defer resp.Body.Close()
	inc(f.answered)
	h := w.Header()
	for k, vs := range resp.Header {
		if !skipResponse[k] {
			h[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil // the client went away
			}
			_ = rc.Flush()
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				// The answer is under way: all that can be done is
				// cutting it, so that the client sees it incomplete.
				f.logger.Warn("forwarded answer cut", "url", base, "request_id", httpapi.RequestID(ctx), "err", rerr)
				panic(http.ErrAbortHandler)
			}
			return nil
		}
	}
}

// NodeHeaders names this replica (node) on every answer.
func NodeHeaders(node string) func(http.Handler) http.Handler {
	// One value shared by every answer (Set would allocate one per
	// request); its capacity of one makes an Add copy it, not write into
	// it.
	value := []string{node}[:1:1]
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header()[NodeHeader] = value
			next.ServeHTTP(w, r)
		})
	}
}
