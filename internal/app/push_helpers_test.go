package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/testutil"
)

// sseEvent is one Server-Sent Event as a client parses it (a comment,
// such as a heartbeat, has only comment set).
type sseEvent struct {
	id, event, data, comment string
	at                       time.Time
}

// sseStream is an open SSE response being read.
type sseStream struct {
	t      testing.TB
	status int
	header http.Header
	body   []byte // a refused stream's answer
	events chan sseEvent
	err    chan error // how the stream ended (io.EOF: cleanly)
	cancel context.CancelFunc
}

// openSSE opens url as an event stream; headers alternate names and
// values. A refused stream (not 200) is returned with its body read.
func openSSE(t testing.TB, url string, headers ...string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	s := &sseStream{t: t, status: resp.StatusCode, header: resp.Header, cancel: cancel,
		events: make(chan sseEvent, 100000), err: make(chan error, 1)}
	t.Cleanup(s.close)
	if resp.StatusCode != http.StatusOK {
		s.body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return s
	}
	go func() {
		defer resp.Body.Close()
		rd := bufio.NewReader(resp.Body)
		var ev sseEvent
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				s.err <- err
				close(s.events)
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if ev.id != "" || ev.event != "" || ev.data != "" {
					ev.at = time.Now()
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				s.events <- sseEvent{comment: strings.TrimSpace(line[1:]), at: time.Now()}
			default:
				k, v, _ := strings.Cut(line, ":")
				v = strings.TrimPrefix(v, " ")
				switch k {
				case "id":
					ev.id = v
				case "event":
					ev.event = v
				case "data":
					ev.data += v
				}
			}
		}
	}()
	return s
}

func (s *sseStream) close() { s.cancel() }

// next returns the next event that is not a comment, or ok false when
// the stream ended or d passed.
func (s *sseStream) next(d time.Duration) (sseEvent, bool) {
	s.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return sseEvent{}, false
			}
			if ev.comment != "" {
				continue
			}
			return ev, true
		case <-timer.C:
			return sseEvent{}, false
		}
	}
}

// records reads n record events (failing the test at an end event or
// when d passes first).
func (s *sseStream) records(n int, d time.Duration) []sseEvent {
	s.t.Helper()
	var out []sseEvent
	deadline := time.Now().Add(d)
	for len(out) < n {
		ev, ok := s.next(time.Until(deadline))
		if !ok {
			s.t.Fatalf("got %d record events of %d", len(out), n)
		}
		if ev.event != "" {
			s.t.Fatalf("event %q (%s) after %d records, want %d records", ev.event, ev.data, len(out), n)
		}
		out = append(out, ev)
	}
	return out
}

// quiet checks that no record event arrives for d.
func (s *sseStream) quiet(d time.Duration) {
	s.t.Helper()
	if ev, ok := s.next(d); ok {
		s.t.Fatalf("unexpected event %+v", ev)
	}
}

// pushTopic creates topic with n partitions through the gateway's
// broker, as kgate's superuser.
func pushTopic(t testing.TB, g *testutil.Gateway, topic string, n int32) *kgo.Client {
	t.Helper()
	cl := pushTopicClient(t, g)
	if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), n, -1, nil, topic); err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	return cl
}

// pushTopicClient is a franz-go client of g's broker as kgate's
// superuser (no SASL in open mode).
func pushTopicClient(t testing.TB, g *testutil.Gateway) *kgo.Client {
	t.Helper()
	opts := []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner())}
	var cl *kgo.Client
	if _, err := os.Stat(filepath.Join(g.Config.DataDir, "broker-superuser.secret")); err == nil {
		cl = kafkaSuperuser(t, g, opts...)
	} else { // open mode: the Kafka port has no SASL
		var err error
		if cl, err = kgo.NewClient(append(opts, kgo.SeedBrokers(g.Info.BrokerAddr))...); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
	}
	return cl
}

// produceRecords writes records to topic: partition p gets values
// "p-<p>-<i>" for i in [from, to), with key "k<i%3>" and a header
// "h"="<i%2>".
func produceRecords(t testing.TB, cl *kgo.Client, topic string, partitions int32, from, to int, ts time.Time) {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		for p := int32(0); p < partitions; p++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Timestamp: ts,
				Key: []byte(fmt.Sprintf("k%d", i%3)), Value: []byte(fmt.Sprintf("p-%d-%d", p, i)),
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i % 2))}}})
		}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// streamURL is the push route of topic on g.
func streamURL(g *testutil.Gateway, topic, query string) string {
	u := g.URL + "/v3/clusters/" + g.Config.Broker.ClusterID + "/topics/" + topic + "/records/stream"
	if query != "" {
		u += "?" + query
	}
	return u
}

// pushValues writes values to partition 0 of topic, in order.
func pushValues(t testing.TB, cl *kgo.Client, topic string, values []string) {
	t.Helper()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(v)})
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}
