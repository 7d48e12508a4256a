package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/kgate/kgate/internal/config"
)

// Result summarizes a stream.
type Result struct {
	Frames  int64
	Bytes   int64
	Elapsed time.Duration // wall clock from the first frame to the end
	Video   time.Duration // PTS span
	Width   int
	Height  int
	FPS     float64 // nominal frame rate
	Tool    string
	// EncoderMaxRSS is the encoder subprocess's peak resident memory in
	// KiB (0 when unknown).
	EncoderMaxRSS int64
}

// EncodeFPS returns frames per second of wall-clock time.
func (r Result) EncodeFPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Frames) / r.Elapsed.Seconds()
}

// framer turns the encoder's Annex B output into Frames for the sink: it
// groups NAL units into access units, takes the track from the first one,
// stamps constant-rate PTS and, when realtime, paces frames to the wall
// clock.
type framer struct {
	sink     Sink
	fps      float64
	realtime bool
	limit    int64         // frames (0: none)
	limitDur time.Duration // video time (0: none)
	onLimit  func()
	log      *slog.Logger
	m        *Metrics
	interval time.Duration // progress log interval (0: none)

	res      Result
	start    time.Time
	began    bool
	window   []int // sizes of the last second of frames
	winSum   int
	lastLog  time.Time
	lastN    int64
	reported bool
}

func (fr *framer) pts(n int64) time.Duration {
	return time.Duration(math.Round(float64(n) * float64(time.Second) / fr.fps))
}

// run reads r until EOF (or an error), writing every frame to the sink.
// Sink calls use a context that outlives ctx, so frames the encoder
// flushes after an interrupt still arrive; pacing stops with ctx.
func (fr *framer) run(ctx context.Context, r io.Reader) error {
	sinkCtx := context.WithoutCancel(ctx)
	nr := NewNALReader(r)
	var asm AUAssembler
	for {
		nal, err := nr.Next()
		if errors.Is(err, io.EOF) {
			if au := asm.Flush(); au != nil {
				if err := fr.frame(ctx, sinkCtx, au); err != nil {
					return err
				}
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the encoder output: %w", err)
		}
		if au := asm.Push(nal); au != nil {
			if err := fr.frame(ctx, sinkCtx, au); err != nil {
				return err
			}
		}
	}
}

// full reports whether the frame limit or the duration limit is reached.
func (fr *framer) full() bool {
	return (fr.limit > 0 && fr.res.Frames >= fr.limit) || (fr.limitDur > 0 && fr.pts(fr.res.Frames) >= fr.limitDur)
}

func (fr *framer) frame(ctx, sinkCtx context.Context, au [][]byte) error {
	if fr.full() {
		if fr.onLimit != nil && !fr.reported {
			fr.reported = true
			fr.onLimit()
		}
		return nil // drain what the encoder still writes
	}
	if !fr.began {
		if !isKey(au) {
			return nil // wait for the first IDR
		}
		sps, pps := paramSets(au)
		if sps == nil || pps == nil {
			return fmt.Errorf("%w: the first keyframe carries no SPS/PPS", ErrInvalidH264)
		}
		s, err := ParseSPS(sps)
		if err != nil {
			return err
		}
		fr.start = time.Now()
		t := Track{Width: s.Width, Height: s.Height, FPS: fr.fps, SPS: sps, PPS: pps, Start: fr.start}
		fr.res.Width, fr.res.Height, fr.res.FPS = s.Width, s.Height, fr.fps
		if err := fr.sink.Begin(sinkCtx, t); err != nil {
			return err
		}
		fr.began = true
		fr.lastLog = fr.start
		fr.log.Info("streaming", "width", s.Width, "height", s.Height, "fps", fr.fps, "profile_idc", s.ProfileIDC, "level_idc", s.LevelIDC)
	}
	n := fr.res.Frames
	f := Frame{NALUs: au, PTS: fr.pts(n), Duration: fr.pts(n+1) - fr.pts(n), Key: isKey(au)}
	if fr.realtime && ctx.Err() == nil {
		if d := time.Until(fr.start.Add(f.PTS)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
	if err := fr.sink.WriteFrame(sinkCtx, f); err != nil {
		return err
	}
	size := f.Size()
	fr.res.Frames++
	fr.res.Bytes += int64(size)
	fr.res.Video = f.PTS + f.Duration
	fr.res.Elapsed = time.Since(fr.start)
	fr.m.Frames.Inc()
	fr.m.Bytes.Add(float64(size))
	fr.window = append(fr.window, size)
	fr.winSum += size
	if w := max(1, int(math.Round(fr.fps))); len(fr.window) > w {
		fr.winSum -= fr.window[0]
		fr.window = fr.window[1:]
	}
	fr.m.Bitrate.Set(float64(fr.winSum*8) * fr.fps / float64(len(fr.window)))
	if now := time.Now(); now.Sub(fr.lastLog) >= time.Second {
		fr.m.FPS.Set(float64(fr.res.Frames-fr.lastN) / now.Sub(fr.lastLog).Seconds())
		if fr.interval > 0 && now.Sub(fr.lastLog) >= fr.interval {
			fr.log.Info("stream progress", "frames", fr.res.Frames, "video", fr.res.Video.Round(time.Millisecond),
				"fps", math.Round(float64(fr.res.Frames-fr.lastN)/now.Sub(fr.lastLog).Seconds()*10)/10,
				"bitrate_kbps", math.Round(float64(fr.winSum*8)*fr.fps/float64(len(fr.window))/1000))
		}
		if fr.interval == 0 || now.Sub(fr.lastLog) >= fr.interval {
			fr.lastLog, fr.lastN = now, fr.res.Frames
		}
	}
	if fr.full() && fr.onLimit != nil && !fr.reported {
		fr.reported = true
		fr.onLimit()
	}
	return nil
}

// Options configure Run.
type Options struct {
	Source  Source
	Encoder EncoderOptions
	// Limit stops after this many frames, LimitDuration after this much
	// video (0: until the input ends).
	Limit         int64
	LimitDuration time.Duration
	// Realtime paces frames to the wall clock (files and test patterns
	// otherwise go as fast as they encode).
	Realtime bool
	// Stdin supplies raw frames for InputRaw.
	Stdin io.Reader
	// DetectFrames is how many raw frames measure an unknown frame rate.
	DetectFrames int
	// FlushTimeout bounds closing the sink after the input ends or ctx
	// is cancelled (config's stream.flush_timeout when zero).
	FlushTimeout time.Duration
	// ProgressInterval logs progress this often (0: never).
	ProgressInterval time.Duration
	Logger           *slog.Logger
	Metrics          *Metrics
}

func (o *Options) setDefaults() {
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = config.DefaultStream().FlushTimeout.D()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	o.Encoder.setDefaults()
}

// Run encodes the source and streams it into sink until the input ends, the
// frame limit is reached or ctx is cancelled (then the encoder is
// interrupted, flushes, and the sink is closed: a clean stop is not an
// error). The sink is always closed.
func Run(ctx context.Context, o Options, sink Sink) (Result, error) {
	o.setDefaults()
	src := o.Source
	if src.Kind == InputRaw {
		return runRaw(ctx, o, sink)
	}
	// fail closes the sink (which may hold resources, such as a KVS
	// connection) when the stream cannot start.
	fail := func(err error) (Result, error) {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.FlushTimeout)
		defer cancel()
		return Result{}, errors.Join(err, sink.Close(flushCtx))
	}
	tool, err := ResolveTool(o.Encoder.Tool)
	if err != nil {
		return fail(err)
	}
	if src.Kind == InputFile || src.Kind == InputURL {
		if src.FPS <= 0 || (src.Width == 0) != (src.Height == 0) {
			p, err := ProbeInput(ctx, src.Kind, src.Location)
			if err != nil {
				return fail(fmt.Errorf("detecting the input's frame rate (set --fps to skip): %w", err))
			}
			o.Logger.Info("probed input", "codec", p.Codec, "width", p.Width, "height", p.Height, "fps", p.FPS)
			if src.FPS <= 0 {
				if p.FPS <= 0 {
					return fail(errors.New("the input's frame rate is unknown; set --fps"))
				}
				src.FPS = p.FPS
			}
		}
	}
	if src.Kind == InputTestPattern {
		src.Frames = o.Limit
		if o.LimitDuration > 0 {
			n := int64(math.Ceil(o.LimitDuration.Seconds()*src.FPS - 1e-9))
			if src.Frames == 0 || n < src.Frames {
				src.Frames = n
			}
		}
	}
	encCtx, stop := context.WithCancel(ctx)
	defer stop()
	enc, err := startEncoder(encCtx, tool, src, o.Encoder, o.Logger)
	if err != nil {
		return fail(err)
	}
	fr := &framer{sink: sink, fps: src.FPS, realtime: o.Realtime, limit: o.Limit, limitDur: o.LimitDuration, onLimit: stop,
		log: o.Logger, m: o.Metrics, interval: o.ProgressInterval}
	runErr := fr.run(encCtx, enc.stdout)
	if runErr != nil {
		stop()
		io.Copy(io.Discard, enc.stdout)
	}
	waitErr := enc.wait()
	if waitErr != nil {
		o.Metrics.EncoderFailures.Inc()
	}
	res := fr.res
	res.Tool, res.EncoderMaxRSS = tool, enc.maxRSS
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.FlushTimeout)
	defer cancel()
	closeErr := sink.Close(flushCtx)
	if !fr.began && runErr == nil && waitErr == nil && ctx.Err() == nil {
		runErr = errors.New("the encoder produced no frames")
	}
	return res, errors.Join(runErr, waitErr, closeErr)
}

// runRaw feeds raw frames from o.Stdin through a Writer.
func runRaw(ctx context.Context, o Options, sink Sink) (Result, error) {
	src := o.Source
	if src.Width <= 0 || src.Height <= 0 || o.Stdin == nil {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.FlushTimeout)
		defer cancel()
		return Result{}, errors.Join(errors.New("raw frames need stdin, --width and --height"), sink.Close(flushCtx))
	}
	w := NewWriter(ctx, sink, WriterOptions{
		Width: src.Width, Height: src.Height, FPS: src.FPS, PixelFormat: src.PixelFormat,
		DetectFrames: o.DetectFrames, Encoder: o.Encoder, Logger: o.Logger, Metrics: o.Metrics,
		ProgressInterval: o.ProgressInterval,
	})
	limit := o.Limit
	if o.LimitDuration > 0 {
		if src.FPS <= 0 {
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.FlushTimeout)
			defer cancel()
			return Result{}, errors.Join(errors.New("a duration limit on raw frames needs the frame rate"), sink.Close(flushCtx))
		}
		n := int64(math.Ceil(o.LimitDuration.Seconds()*src.FPS - 1e-9))
		if limit == 0 || n < limit {
			limit = n
		}
	}
	size := w.FrameSize()
	buf := make([]byte, size)
	var readErr error
	for n := int64(0); limit == 0 || n < limit; n++ {
		if ctx.Err() != nil {
			break
		}
		k, err := io.ReadFull(o.Stdin, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			o.Logger.Warn("stdin ended inside a frame; the partial frame is dropped", "bytes", k, "frame_bytes", size)
			break
		}
		if err != nil {
			readErr = fmt.Errorf("reading raw frames: %w", err)
			break
		}
		if err := w.WriteRaw(buf); err != nil {
			readErr = err
			break
		}
	}
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.FlushTimeout)
	defer cancel()
	err := w.Close(flushCtx)
	return w.Result(), errors.Join(readErr, err)
}
