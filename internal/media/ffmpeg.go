package media

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kgate/kgate/internal/config"
)

// FFmpeg decodes frames by running the ffmpeg program on a file and
// reading one PPM picture from its stdout. It is safe for concurrent use;
// every call starts its own process.
type FFmpeg struct {
	// Path is the ffmpeg executable; empty means config's
	// handle.colors.ffmpeg default (ffmpeg on PATH).
	Path string
	// Threads is ffmpeg's -threads for decoding; 0 lets ffmpeg choose.
	// One thread is the right choice when several workers decode at once.
	Threads int
	// Timeout bounds one decode; zero means config's
	// handle.colors.decode_timeout default.
	Timeout time.Duration
	// MaxPixels refuses larger frames; zero means 8K UHD (7680x4320).
	MaxPixels int
}

// DefaultMaxPixels is the frame size FFmpeg accepts unless told otherwise.
const DefaultMaxPixels = 7680 * 4320

// stderrTail is how much of ffmpeg's stderr an error message keeps.
const stderrTail = 512

// Frame runs ffmpeg on path and returns the frame at time at (0: the
// first frame). The file is read by ffmpeg directly, never piped, so MP4s
// with the index at the end decode too.
func (f *FFmpeg) Frame(ctx context.Context, path string, at time.Duration) (*Frame, error) {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = config.DefaultHandle().Colors.DecodeTimeout.D()
	}
	maxPixels := f.MaxPixels
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	bin := f.Path
	if bin == "" {
		bin = config.DefaultHandle().Colors.FFmpeg
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin"}
	if f.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(f.Threads))
	}
	if at > 0 {
		// Before -i: a fast seek to the keyframe before at, then an
		// accurate decode up to at (ffmpeg's default accurate_seek).
		args = append(args, "-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64))
	}
	// "file:" keeps a name that looks like a protocol or option from
	// being interpreted as one.
	args = append(args, "-i", "file:"+path, "-map", "0:v:0", "-frames:v", "1",
		"-an", "-sn", "-dn", "-f", "image2pipe", "-c:v", "ppm", "-pix_fmt", "rgb24", "pipe:1")
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 2 * time.Second
	stderr := &tailBuffer{max: stderrTail}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting ffmpeg: %w", err)
	}
	frame, readErr := ReadPPM(bufio.NewReaderSize(stdout, 64<<10), maxPixels)
	if readErr != nil {
		// Stop ffmpeg writing into a pipe nobody reads.
		_ = cmd.Process.Kill()
	}
	waitErr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("ffmpeg: %w", ctx.Err())
	case readErr != nil && errors.Is(readErr, ErrNoFrame) && waitErr == nil:
		return nil, fmt.Errorf("decoding %s at %s: %w", path, at, ErrNoFrame)
	case readErr != nil && errors.Is(readErr, ErrFrameTooLarge):
		return nil, readErr
	case waitErr != nil:
		var exit *exec.ExitError
		if errors.As(waitErr, &exit) {
			return nil, fmt.Errorf("%w: ffmpeg %v: %s", ErrUndecodable, waitErr, stderr.String())
		}
		return nil, fmt.Errorf("ffmpeg: %w", waitErr)
	case readErr != nil:
		return nil, fmt.Errorf("reading ffmpeg output: %w", readErr)
	}
	return frame, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(bytes.ToValidUTF8(t.buf, []byte("?"))))
	if s == "" {
		return "no output"
	}
	return strings.ReplaceAll(s, "\n", "; ")
}
