package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// load is one scenario's outcome as the load generator saw it.
type load struct {
	requests int64 // answered 2xx
	records  int64 // acknowledged records (2xx requests × records per request, or counted in bodies)
	shed     int64 // answered 429 or 503 (load shedding)
	failed   int64 // anything else: other statuses, errors, records refused inside a 200
	elapsed  time.Duration
	p50, p99 time.Duration
}

func (l load) reqRate() float64 { return float64(l.requests) / l.elapsed.Seconds() }
func (l load) recRate() float64 { return float64(l.records) / l.elapsed.Seconds() }

// target is what a scenario sends: a URL, a body and its content type.
type target struct {
	url, contentType string
	body             []byte
	perReq           int // records in one body
}

// closedLoop runs clients sending back to back for d: with wrk when
// useWrk (cheaper on a shared 2-core machine than a Go client, and what
// the figures were taken with), else with Go's client.
func closedLoop(t target, clients int, d time.Duration, useWrk bool) (load, error) {
	if useWrk {
		return wrkLoad(t, clients, d)
	}
	return goLoad(t, clients, d, 0), nil
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in ([\d.]+)(us|ms|s|m)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkPct      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
)

// wrkLoad runs wrk -t2 with a Lua script that posts t's body. wrk does
// not read bodies, so a 200 that refused a record inside would count as
// acknowledged: the scenarios check the topic's end offsets instead.
func wrkLoad(t target, clients int, d time.Duration) (load, error) {
	dir, err := os.MkdirTemp("", "v2produce-wrk")
	if err != nil {
		return load{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "post.lua")
	lua := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %s\nwrk.headers[\"Content-Type\"] = %q\n", luaString(t.body), t.contentType)
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		return load{}, err
	}
	secs := int(d.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	out, err := exec.Command("wrk", "-t2", fmt.Sprintf("-c%d", clients), fmt.Sprintf("-d%ds", secs), "--latency", "-s", script, t.url).CombinedOutput()
	if err != nil {
		return load{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	s := string(out)
	m := wrkRequests.FindStringSubmatch(s)
	if m == nil {
		return load{}, fmt.Errorf("wrk printed no request count: %s", s)
	}
	total, _ := strconv.ParseInt(m[1], 10, 64)
	l := load{elapsed: parseDur(m[2], m[3])}
	var bad int64
	if m := wrkNon2xx.FindStringSubmatch(s); m != nil {
		bad, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkSocket.FindStringSubmatch(s); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			l.failed += n
		}
	}
	l.requests = total - bad
	l.failed += bad
	l.records = l.requests * int64(t.perReq)
	for _, m := range wrkPct.FindAllStringSubmatch(s, -1) {
		if m[1] == "50" {
			l.p50 = parseDur(m[2], m[3])
		} else {
			l.p99 = parseDur(m[2], m[3])
		}
	}
	return l, nil
}

func parseDur(v, unit string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "us":
		return time.Duration(f * float64(time.Microsecond))
	case "ms":
		return time.Duration(f * float64(time.Millisecond))
	case "m":
		return time.Duration(f * float64(time.Minute))
	}
	return time.Duration(f * float64(time.Second))
}

// luaString quotes b as a Lua string literal with decimal escapes for
// anything outside printable ASCII.
func luaString(b []byte) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			sb.WriteByte(c)
		default:
			fmt.Fprintf(&sb, "\\%03d", c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// goLoad runs clients that each send requests back to back (closed loop),
// or, with rate > 0, on a fixed schedule of rate/clients requests per
// second each (open loop): latency then counts from the scheduled send
// time, so a stall is not hidden by the clients waiting for it. Each
// client is one keep-alive connection that writes a prepared request
// and reads the answer with a minimal HTTP/1.1 reader (no pipelining:
// the next request waits for the answer, as with real clients): the
// generator shares the machine with the gateway, and Go's HTTP client
// would cost it about as much CPU per request as the gateway spends.
func goLoad(t target, clients int, d time.Duration, rate float64) load {
	u, err := url.Parse(t.url)
	if err != nil {
		return load{failed: 1, elapsed: d}
	}
	req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		u.RequestURI(), u.Host, t.contentType, len(t.body))
	req = append(req, t.body...)
	var (
		requests, records, shed, failed atomic.Int64
		mu                              sync.Mutex
		lat                             []time.Duration
		wg                              sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *client
			defer func() {
				if c != nil {
					c.conn.Close()
				}
			}()
			local := make([]time.Duration, 0, 1024)
			var interval time.Duration
			if rate > 0 {
				interval = time.Duration(float64(clients) / rate * float64(time.Second))
			}
			next := time.Now().Add(time.Duration(i) * interval / time.Duration(clients))
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if interval > 0 {
					if wait := time.Until(next); wait > 0 {
						time.Sleep(wait)
					}
					t0 = next
					next = next.Add(interval)
				}
				if c == nil {
					if c, err = dial(u.Host); err != nil {
						failed.Add(1)
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				status, n, keep, err := c.post(req, t.perReq)
				local = append(local, time.Since(t0))
				if err != nil || !keep {
					c.conn.Close()
					c = nil
				}
				switch {
				case err == nil && status == http.StatusOK:
					requests.Add(1)
					records.Add(int64(n))
					failed.Add(int64(t.perReq - n))
				case err == nil && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable):
					shed.Add(1)
				default:
					failed.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	l := load{requests: requests.Load(), records: records.Load(), shed: shed.Load(), failed: failed.Load(), elapsed: time.Since(start)}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		l.p50, l.p99 = lat[(len(lat)-1)/2], lat[int(float64(len(lat)-1)*0.99)]
	}
	return l
}

// client is one keep-alive connection of the load generator.
type client struct {
	conn net.Conn
	br   *bufio.Reader
	body []byte
}

func dial(host string) (*client, error) {
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &client{conn: conn, br: bufio.NewReaderSize(conn, 64<<10)}, nil
}

// post sends one prepared request and reads its answer: the status, and
// for a v2 produce answer how many records it acknowledged (it counts
// `"error_code":null` in the body instead of decoding it); any other 200
// answer counts as perReq records.
func (c *client) post(req []byte, perReq int) (status, acked int, keep bool, err error) {
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.conn.Write(req); err != nil {
		return 0, 0, false, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, 0, false, err
	}
	length, chunked := -1, false
	keep = true
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, 0, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(value))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.Contains(bytes.ToLower(value), []byte("close"))
		}
	}
	c.body = c.body[:0]
	switch {
	case chunked:
		for {
			sz, err := c.br.ReadSlice('\n')
			if err != nil {
				return 0, 0, false, err
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(sz, []byte(";"), 2)[0])), 16, 64)
			if err != nil {
				return 0, 0, false, err
			}
			if n == 0 {
				_, err = c.br.ReadSlice('\n')
				if err != nil {
					return 0, 0, false, err
				}
				break
			}
			if c.body, err = readN(c.br, c.body, int(n)+2); err != nil {
				return 0, 0, false, err
			}
			c.body = c.body[:len(c.body)-2]
		}
	case length >= 0:
		if c.body, err = readN(c.br, c.body, length); err != nil {
			return 0, 0, false, err
		}
	default:
		return 0, 0, false, fmt.Errorf("answer without a length")
	}
	if status != http.StatusOK {
		return status, 0, keep, nil
	}
	if bytes.HasPrefix(c.body, []byte(`{"offsets":[`)) {
		return status, bytes.Count(c.body, []byte(`"error_code":null`)), keep, nil
	}
	return status, perReq, keep, nil
}

// readN appends n bytes of r to b.
func readN(r *bufio.Reader, b []byte, n int) ([]byte, error) {
	start := len(b)
	b = slices.Grow(b, n)[:start+n]
	_, err := io.ReadFull(r, b[start:])
	return b, err
}
