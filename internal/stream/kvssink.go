package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/kgate/kgate/internal/kvs"
)

// KVSSink is a Sink streaming to Kinesis Video Streams: it muxes Matroska
// with absolute (Unix millisecond) cluster timecodes and hands each cluster
// to a kvs.Uploader, whose Run it owns. Not safe for concurrent use.
type KVSSink struct {
	up  *kvs.Uploader
	mux *Muxer
	log *slog.Logger
	m   *Metrics

	cancel context.CancelFunc
	done   chan error
}

// NewKVSSink returns a sink feeding up. Begin starts up.Run; Close stops
// it after the last fragment is acknowledged.
func NewKVSSink(up *kvs.Uploader, opts MuxerOptions, log *slog.Logger, m *Metrics) *KVSSink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	opts.Absolute = true
	return &KVSSink{up: up, mux: NewMuxer(opts), log: log, m: m}
}

// Begin implements Sink.
func (k *KVSSink) Begin(_ context.Context, t Track) error {
	hdr, err := k.mux.Header(t)
	if err != nil {
		return err
	}
	k.up.SetHeader(hdr)
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel, k.done = cancel, make(chan error, 1)
	go func() { k.done <- k.up.Run(ctx) }()
	return nil
}

// WriteFrame implements Sink.
func (k *KVSSink) WriteFrame(ctx context.Context, f Frame) error {
	frag, err := k.mux.Write(f)
	if err != nil {
		return err
	}
	return k.put(ctx, frag)
}

func (k *KVSSink) put(ctx context.Context, frag *MKVFragment) error {
	if frag == nil {
		return nil
	}
	if !frag.Key {
		k.m.ForcedCuts.Inc()
		k.log.Warn("fragment cut without a keyframe to stay within 10 s; check the encoder's keyframe interval", "fragment_timecode", frag.Timecode)
	}
	k.m.Fragments.WithLabelValues("kvs").Inc()
	err := k.up.Put(ctx, kvs.Fragment{Timecode: frag.Timecode, Duration: frag.Duration, Data: frag.Data})
	if err != nil {
		return fmt.Errorf("queueing fragment %d for kvs: %w", frag.Timecode, err)
	}
	return nil
}

// Close implements Sink: it queues the last fragment and waits, up to
// ctx, for every fragment to be acknowledged.
func (k *KVSSink) Close(ctx context.Context) error {
	if k.done == nil {
		return nil
	}
	frag, err := k.mux.Flush()
	if err == nil {
		err = k.put(ctx, frag)
	}
	k.up.Close()
	var runErr error
	select {
	case runErr = <-k.done:
	case <-ctx.Done():
		k.cancel()
		runErr = <-k.done
	}
	k.cancel()
	k.done = nil
	st := k.up.Stats()
	k.log.Info("kvs upload finished", "fragments", st.Put, "sent", st.Sent, "resent", st.Resent, "received", st.Received,
		"persisted", st.Persisted, "dropped", st.Dropped, "errors", st.Errors, "connections", st.Connections, "unacknowledged", st.Buffered)
	if st.Buffered > 0 {
		err = errors.Join(err, fmt.Errorf("%d kvs fragments not acknowledged when closing: %w", st.Buffered, runErr))
	}
	if st.Dropped > 0 {
		err = errors.Join(err, fmt.Errorf("%d kvs fragments were dropped", st.Dropped))
	}
	return err
}
