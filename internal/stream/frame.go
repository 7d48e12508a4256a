package stream

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Frame is one encoded H.264 access unit.
type Frame struct {
	// NALUs are the access unit's NAL units, without start codes or length
	// prefixes. Sinks must not modify them; they may keep them.
	NALUs [][]byte
	// PTS is the presentation time since the stream's start (Track.Start).
	// Frames come in decode order; with no B-frames that is also
	// presentation order, so PTS increases.
	PTS time.Duration
	// Duration is how long the frame is shown (1/fps).
	Duration time.Duration
	// Key marks an IDR access unit, where a decoder can start.
	Key bool
}

// Size returns the bytes of the frame's NAL units.
func (f Frame) Size() int {
	n := 0
	for _, nal := range f.NALUs {
		n += len(nal)
	}
	return n
}

// Track describes the video a Sink receives.
type Track struct {
	Width, Height int
	// FPS is the nominal frame rate.
	FPS float64
	// SPS and PPS are the H.264 parameter sets (NAL units without start
	// codes); the Matroska CodecPrivate (avcC) is built from them.
	SPS, PPS []byte
	// Start is the wall-clock time of PTS 0: sinks with absolute time
	// (KVS timecodes, Matroska DateUTC) add PTS to it.
	Start time.Time
}

// AVCC returns the track's AVCDecoderConfigurationRecord.
func (t Track) AVCC() ([]byte, error) { return AVCDecoderConfig(t.SPS, t.PPS) }

// Validate checks that a track can be muxed.
func (t Track) Validate() error {
	if t.Width <= 0 || t.Height <= 0 {
		return fmt.Errorf("track size %dx%d", t.Width, t.Height)
	}
	if t.FPS <= 0 {
		return fmt.Errorf("track frame rate %v", t.FPS)
	}
	if _, err := t.AVCC(); err != nil {
		return err
	}
	return nil
}

// Sink consumes an encoded H.264 stream. kgate streams to KVS, to a
// Matroska file and to HLS through Sinks; other code (a handler, say) can
// hand encoded frames to one directly, or raw frames to a Writer that
// encodes them.
//
// Calls come from one goroutine: Begin once, then WriteFrame for each frame
// in decode order (the first one a keyframe), then Close. A Sink need not
// be safe for concurrent use.
type Sink interface {
	// Begin announces the track.
	Begin(ctx context.Context, t Track) error
	// WriteFrame takes one access unit.
	WriteFrame(ctx context.Context, f Frame) error
	// Close flushes what is buffered (the last fragment or segment) and
	// releases the sink; ctx bounds how long it may wait (e.g. for KVS
	// acknowledgements).
	Close(ctx context.Context) error
}

// ErrNotKeyframe reports a stream that does not start with a keyframe.
var ErrNotKeyframe = errors.New("the first frame is not a keyframe")

// Tee returns a Sink writing to every sink in order. An error from one
// stops the write and is returned; Close closes all and joins errors.
func Tee(sinks ...Sink) Sink {
	if len(sinks) == 1 {
		return sinks[0]
	}
	return tee(sinks)
}

type tee []Sink

func (t tee) Begin(ctx context.Context, tr Track) error {
	for _, s := range t {
		if err := s.Begin(ctx, tr); err != nil {
			return err
		}
	}
	return nil
}

func (t tee) WriteFrame(ctx context.Context, f Frame) error {
	for _, s := range t {
		if err := s.WriteFrame(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

func (t tee) Close(ctx context.Context) error {
	var errs []error
	for _, s := range t {
		errs = append(errs, s.Close(ctx))
	}
	return errors.Join(errs...)
}
