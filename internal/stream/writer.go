package stream

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// WriterOptions configure a Writer.
type WriterOptions struct {
	// Width and Height of the frames; 0 takes them from the first image
	// (WriteImage). Raw frames need them.
	Width, Height int
	// FPS is the frame rate; 0 measures it from the rate at which the
	// first DetectFrames frames are written (as the seed's SkyLine does),
	// buffering them meanwhile.
	FPS float64
	// PixelFormat of raw frames (default i420). WriteImage picks its own.
	PixelFormat PixelFormat
	// DetectFrames is how many frames measure the frame rate (default 10).
	DetectFrames int
	Encoder      EncoderOptions
	// ProgressInterval logs progress this often (0: never).
	ProgressInterval time.Duration
	Logger           *slog.Logger
	Metrics          *Metrics
}

// ErrWriterClosed is returned by writes after Close.
var ErrWriterClosed = errors.New("stream writer closed")

// Writer encodes raw frames (images, or bytes in a pixel format) with an
// encoder subprocess and streams them into a Sink: the Go API for code
// that has pictures rather than H.264. Its methods are safe for concurrent
// use, but frames must come in order.
type Writer struct {
	ctx  context.Context
	sink Sink
	opts WriterOptions
	log  *slog.Logger

	// pumpErr is the pump's failure; it has its own lock because a
	// writer may hold mu while blocked on the encoder's stdin.
	pumpErr atomic.Pointer[error]

	mu       sync.Mutex
	enc      *encoderProc
	fr       *framer
	pumpDone chan error
	started  bool
	closed   bool
	pending  [][]byte
	first    time.Time
	last     time.Time
	buf      []byte
	written  int64
}

// NewWriter returns a Writer into sink. The encoder starts with the first
// frame (once the size and frame rate are known) and stops when ctx is
// cancelled or Close is called; Close also closes the sink.
func NewWriter(ctx context.Context, sink Sink, opts WriterOptions) *Writer {
	if opts.DetectFrames <= 1 {
		opts.DetectFrames = 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.PixelFormat.name == "" {
		opts.PixelFormat = PixelI420
	}
	opts.Encoder.setDefaults()
	return &Writer{ctx: ctx, sink: sink, opts: opts, log: opts.Logger}
}

// FrameSize returns the bytes a raw frame must have (0 while the size is
// unknown).
func (w *Writer) FrameSize() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.opts.PixelFormat.FrameSize(w.opts.Width, w.opts.Height)
}

// WriteImage encodes an image. The first image fixes the size (unless set)
// and the pixel format: 4:2:0 YCbCr images go as I420, others as RGBA.
func (w *Writer) WriteImage(img image.Image) error {
	w.mu.Lock()
	b := img.Bounds()
	if w.written == 0 && len(w.pending) == 0 && !w.started {
		if w.opts.Width == 0 && w.opts.Height == 0 {
			w.opts.Width, w.opts.Height = b.Dx()&^1, b.Dy()&^1
		}
		w.opts.PixelFormat = imageFormat(img)
	}
	if b.Dx() < w.opts.Width || b.Dy() < w.opts.Height {
		w.mu.Unlock()
		return fmt.Errorf("image of %dx%d, stream is %dx%d", b.Dx(), b.Dy(), w.opts.Width, w.opts.Height)
	}
	if b.Dx() != w.opts.Width || b.Dy() != w.opts.Height {
		// Odd sizes lose their last row or column (4:2:0 needs even ones).
		if si, ok := img.(interface {
			SubImage(image.Rectangle) image.Image
		}); ok {
			img = si.SubImage(image.Rect(b.Min.X, b.Min.Y, b.Min.X+w.opts.Width, b.Min.Y+w.opts.Height))
		}
	}
	var err error
	w.buf, err = appendImage(w.buf[:0], img, w.opts.PixelFormat)
	if err != nil {
		w.mu.Unlock()
		return err
	}
	return w.writeLocked(w.buf)
}

// WriteRaw encodes one frame in the configured pixel format.
func (w *Writer) WriteRaw(frame []byte) error {
	w.mu.Lock()
	return w.writeLocked(frame)
}

// writeLocked is called with w.mu held and releases it.
func (w *Writer) writeLocked(frame []byte) error {
	defer w.mu.Unlock()
	if w.closed {
		return ErrWriterClosed
	}
	if err := w.pumpErr.Load(); err != nil {
		return *err
	}
	if want := w.opts.PixelFormat.FrameSize(w.opts.Width, w.opts.Height); len(frame) != want || want == 0 {
		return fmt.Errorf("raw frame of %d bytes, want %d (%dx%d %s)", len(frame), want, w.opts.Width, w.opts.Height, w.opts.PixelFormat)
	}
	now := time.Now()
	if w.first.IsZero() {
		w.first = now
	}
	w.last = now
	if !w.started {
		if w.opts.FPS <= 0 {
			w.pending = append(w.pending, append([]byte(nil), frame...))
			if len(w.pending) < w.opts.DetectFrames {
				return nil
			}
			fps, err := measureFPS(len(w.pending), w.last.Sub(w.first))
			if err != nil {
				return err
			}
			w.opts.FPS = fps
			w.log.Info("measured the frame rate", "fps", fps, "frames", len(w.pending))
			if err := w.startLocked(); err != nil {
				return err
			}
			pending := w.pending
			w.pending = nil
			for _, p := range pending {
				if err := w.feedLocked(p); err != nil {
					return err
				}
			}
			return nil
		}
		if err := w.startLocked(); err != nil {
			return err
		}
	}
	return w.feedLocked(frame)
}

// measureFPS turns the arrival of n frames over d into a frame rate,
// rounded to an integer when close to one.
func measureFPS(n int, d time.Duration) (float64, error) {
	if n < 2 || d <= 0 {
		return 0, errors.New("cannot measure the frame rate: set it")
	}
	fps := float64(n-1) / d.Seconds()
	if fps > 240 {
		return 0, fmt.Errorf("frames arrive at %.0f per second, too fast to be a live rate: set the frame rate", fps)
	}
	if r := math.Round(fps); r >= 1 && math.Abs(fps-r)/r < 0.05 {
		return r, nil
	}
	return math.Max(1, math.Round(fps*100)/100), nil
}

func (w *Writer) startLocked() error {
	tool, err := ResolveTool(w.opts.Encoder.Tool)
	if err != nil {
		return err
	}
	src := Source{Kind: InputRaw, Width: w.opts.Width, Height: w.opts.Height, FPS: w.opts.FPS, PixelFormat: w.opts.PixelFormat}
	enc, err := startEncoder(w.ctx, tool, src, w.opts.Encoder, w.log)
	if err != nil {
		return err
	}
	w.enc, w.started = enc, true
	w.fr = &framer{sink: w.sink, fps: w.opts.FPS, log: w.log, m: w.opts.Metrics, interval: w.opts.ProgressInterval}
	w.pumpDone = make(chan error, 1)
	fr := w.fr
	go func() {
		err := fr.run(w.ctx, enc.stdout)
		if err != nil {
			w.pumpErr.Store(&err)
			enc.stdin.Close()               // unblock a writer stuck on a full pipe
			io.Copy(io.Discard, enc.stdout) // let the encoder finish
		}
		w.pumpDone <- err
	}()
	return nil
}

func (w *Writer) feedLocked(frame []byte) error {
	if _, err := w.enc.stdin.Write(frame); err != nil {
		if perr := w.pumpErr.Load(); perr != nil {
			return *perr
		}
		return fmt.Errorf("writing a frame to the encoder: %w", err)
	}
	w.written++
	return nil
}

// Close flushes the encoder, waits for the last frames to reach the sink
// and closes the sink (ctx bounds the sink's flush). Frames buffered to
// measure the frame rate are measured from what arrived.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	var startErr error
	if !w.started && len(w.pending) > 0 {
		fps, err := measureFPS(len(w.pending), w.last.Sub(w.first))
		if err == nil {
			w.opts.FPS = fps
			err = w.startLocked()
		}
		for _, p := range w.pending {
			if err != nil {
				break
			}
			err = w.feedLocked(p)
		}
		w.pending = nil
		startErr = err
	}
	enc := w.enc
	w.mu.Unlock()
	if enc == nil {
		return errors.Join(startErr, w.sink.Close(ctx))
	}
	enc.stdin.Close()
	pumpErr := <-w.pumpDone
	waitErr := enc.wait()
	if waitErr != nil {
		w.opts.Metrics.EncoderFailures.Inc()
	}
	closeErr := w.sink.Close(ctx)
	return errors.Join(startErr, pumpErr, waitErr, closeErr)
}

// Result summarizes what was streamed; call it after Close.
func (w *Writer) Result() Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fr == nil {
		return Result{}
	}
	r := w.fr.res
	r.Tool, r.EncoderMaxRSS = w.enc.tool, w.enc.maxRSS
	return r
}
