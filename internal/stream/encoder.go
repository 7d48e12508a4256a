package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kgate/kgate/internal/config"
)

// Encoding tools.
const (
	ToolAuto      = "auto"
	ToolGStreamer = "gst"
	ToolFFmpeg    = "ffmpeg"
)

// EncoderOptions configure the H.264 encoder subprocess (GStreamer's
// x264enc or ffmpeg's libx264): baseline profile, no B-frames.
type EncoderOptions struct {
	// Tool is gst, ffmpeg or auto (gst-launch-1.0 with x264enc when
	// installed, else ffmpeg).
	Tool string
	// Bitrate in kbit/s.
	Bitrate int
	// KeyIntMax is the longest keyframe interval in frames; it is capped
	// to 10 s of video, the longest KVS fragment.
	KeyIntMax int
	// Preset is the x264 speed preset (ultrafast ... veryslow).
	Preset string
	// Tune is an x264 tuning (zerolatency, film, ...) or "none".
	Tune string
	// Threads is the encoder's thread count (0: automatic).
	Threads int
}

// setDefaults fills what is zero with the defaults of config's
// stream.encoder section (the seed's x264enc settings, bframes=0
// key-int-max=45 bitrate=500, with a preset that keeps 720p30 real time
// on one core).
func (o *EncoderOptions) setDefaults() {
	d := config.DefaultStream().Encoder
	if o.Tool == "" {
		o.Tool = d.Tool
	}
	if o.Bitrate <= 0 {
		o.Bitrate = d.Bitrate
	}
	if o.KeyIntMax <= 0 {
		o.KeyIntMax = d.KeyIntMax
	}
	if o.Preset == "" {
		o.Preset = d.Preset
	}
	if o.Tune == "" {
		o.Tune = d.Tune
	}
}

// Presets and tunes x264 knows.
var (
	Presets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}
	Tunes   = []string{"none", "film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency"}
)

// keyInt returns the keyframe interval capped to 10 s of video.
func (o EncoderOptions) keyInt(fps float64) int {
	return max(1, min(o.KeyIntMax, int(math.Floor(fps*MaxFragment.Seconds()))))
}

// InputKind says where video comes from.
type InputKind int

// Input kinds.
const (
	// InputTestPattern is a synthetic moving test pattern.
	InputTestPattern InputKind = iota
	// InputFile is a video file the encoder reads and decodes.
	InputFile
	// InputURL is an RTSP or HTTP(S) URL the encoder reads.
	InputURL
	// InputRaw is raw frames written to the encoder's stdin.
	InputRaw
)

func (k InputKind) String() string {
	switch k {
	case InputTestPattern:
		return "testsrc"
	case InputFile:
		return "file"
	case InputURL:
		return "url"
	case InputRaw:
		return "raw"
	}
	return "unknown"
}

// Source describes the encoder's input and output picture.
type Source struct {
	Kind InputKind
	// Location is the file path or URL.
	Location string
	// Width and Height are the output size; 0 keeps the input's (raw
	// frames and test patterns need them).
	Width, Height int
	// FPS is the output frame rate (constant; frames are dropped or
	// repeated to keep it).
	FPS float64
	// PixelFormat is the layout of raw frames.
	PixelFormat PixelFormat
	// Frames limits a test pattern (0: endless).
	Frames int64
}

// ParseInput maps a --input value to a Source kind and location: "testsrc"
// is the test pattern, "-" raw frames on stdin, rtsp(s)/http(s) URLs are
// URLs, anything else is a file path.
func ParseInput(s string) (InputKind, string, error) {
	switch {
	case s == "":
		return 0, "", errors.New("no input given")
	case s == "testsrc":
		return InputTestPattern, "", nil
	case s == "-":
		return InputRaw, "", nil
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && strings.Contains(s, "://") {
		switch strings.ToLower(u.Scheme) {
		case "rtsp", "rtsps", "rtspt", "http", "https", "rtmp":
			if u.Host == "" {
				return 0, "", fmt.Errorf("input URL %s has no host", u.Redacted())
			}
			return InputURL, s, nil
		case "file":
			return InputFile, u.Path, nil
		}
		return 0, "", fmt.Errorf("unsupported input URL scheme %q (rtsp, rtsps, http, https, rtmp, file)", u.Scheme)
	}
	return InputFile, s, nil
}

// Redactor hides a URL's password (in plain and escaped form) in text
// that may be logged: argv, encoder messages.
type Redactor struct{ secrets []string }

// NewRedactor returns a redactor for location's password, if it has one.
func NewRedactor(location string) Redactor {
	var r Redactor
	u, err := url.Parse(location)
	if err != nil || u.User == nil {
		return r
	}
	if p, ok := u.User.Password(); ok && p != "" {
		r.secrets = append(r.secrets, p, url.QueryEscape(p), url.PathEscape(p))
		if esc := u.User.String(); esc != "" {
			if _, after, ok := strings.Cut(esc, ":"); ok {
				r.secrets = append(r.secrets, after)
			}
		}
	}
	return r
}

// Redact replaces the secrets in s.
func (r Redactor) Redact(s string) string {
	for _, p := range r.secrets {
		if p != "" {
			s = strings.ReplaceAll(s, p, "xxxxx")
		}
	}
	return s
}

// rational writes fps as a GStreamer/ffmpeg fraction.
func rational(fps float64) string {
	for _, r := range []struct {
		f    float64
		s    string
		tol  float64
		name string
	}{{23.976, "24000/1001", 0.001, ""}, {29.97, "30000/1001", 0.001, ""}, {59.94, "60000/1001", 0.001, ""}} {
		if math.Abs(fps-r.f) < r.tol*r.f {
			return r.s
		}
	}
	if fps == math.Trunc(fps) {
		return strconv.Itoa(int(fps)) + "/1"
	}
	return strconv.Itoa(int(math.Round(fps*1000))) + "/1000"
}

var (
	gstOnce sync.Once
	gstOK   bool
)

// gstAvailable reports whether gst-launch-1.0 with x264enc is installed.
func gstAvailable() bool {
	gstOnce.Do(func() {
		if _, err := exec.LookPath("gst-launch-1.0"); err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gstOK = exec.CommandContext(ctx, "gst-inspect-1.0", "--exists", "x264enc").Run() == nil
	})
	return gstOK
}

// ResolveTool picks the encoding tool for auto.
func ResolveTool(tool string) (string, error) {
	switch tool {
	case ToolGStreamer:
		if !gstAvailable() {
			return "", errors.New("gst-launch-1.0 with x264enc is not installed (Debian: gstreamer1.0-tools gstreamer1.0-plugins-ugly)")
		}
		return tool, nil
	case ToolFFmpeg:
		if _, err := exec.LookPath("ffmpeg"); err != nil {
			return "", errors.New("ffmpeg is not installed")
		}
		return tool, nil
	case ToolAuto, "":
		if gstAvailable() {
			return ToolGStreamer, nil
		}
		if _, err := exec.LookPath("ffmpeg"); err == nil {
			return ToolFFmpeg, nil
		}
		return "", errors.New("neither gst-launch-1.0 with x264enc nor ffmpeg is installed")
	}
	return "", fmt.Errorf("unknown encoder %q (gst, ffmpeg or auto)", tool)
}

// encoderCommand returns the argv (program first) of the encoder for src.
// Its output is an H.264 Annex B byte stream on stdout.
func encoderCommand(tool string, src Source, eo EncoderOptions) ([]string, error) {
	eo.setDefaults()
	if src.FPS <= 0 {
		return nil, errors.New("encoder: the frame rate is unknown")
	}
	if src.Kind == InputRaw || src.Kind == InputTestPattern {
		if src.Width <= 0 || src.Height <= 0 {
			return nil, fmt.Errorf("encoder: %s input needs a width and height", src.Kind)
		}
	}
	if src.Width%2 != 0 || src.Height%2 != 0 {
		return nil, fmt.Errorf("encoder: width and height must be even for 4:2:0 H.264, got %dx%d", src.Width, src.Height)
	}
	switch tool {
	case ToolGStreamer:
		return gstCommand(src, eo)
	case ToolFFmpeg:
		return ffmpegCommand(src, eo)
	}
	return nil, fmt.Errorf("encoder: unknown tool %q", tool)
}

func gstCommand(src Source, eo EncoderOptions) ([]string, error) {
	rate := rational(src.FPS)
	args := []string{"gst-launch-1.0", "-q", "-e"}
	caps := "video/x-raw,format=I420"
	if src.Width > 0 {
		caps += fmt.Sprintf(",width=%d,height=%d", src.Width, src.Height)
	}
	caps += ",framerate=" + rate
	switch src.Kind {
	case InputTestPattern:
		args = append(args, "videotestsrc", "pattern=smpte", "horizontal-speed=4")
		if src.Frames > 0 {
			args = append(args, fmt.Sprintf("num-buffers=%d", src.Frames))
		}
		args = append(args, "!", caps)
	case InputRaw:
		pf := src.PixelFormat
		if pf.name == "" {
			pf = PixelI420
		}
		strides, offsets, size := pf.layout(src.Width, src.Height)
		args = append(args, "fdsrc", "fd=0", fmt.Sprintf("blocksize=%d", size), "!",
			"rawvideoparse", fmt.Sprintf("width=%d", src.Width), fmt.Sprintf("height=%d", src.Height),
			"format="+pf.gst, "framerate="+rate, "plane-strides="+gstArray(strides), "plane-offsets="+gstArray(offsets),
			fmt.Sprintf("frame-size=%d", size), "!", "videoconvert", "!", caps)
	case InputFile, InputURL:
		uri := src.Location
		if src.Kind == InputFile {
			abs, err := filepath.Abs(src.Location)
			if err != nil {
				return nil, err
			}
			uri = (&url.URL{Scheme: "file", Path: abs}).String()
		}
		args = append(args, "uridecodebin", "uri="+uri, "!", "videoconvert", "!", "videoscale", "!", "videorate", "!", caps)
	default:
		return nil, fmt.Errorf("encoder: unknown input kind %d", src.Kind)
	}
	x264 := []string{"x264enc", "bframes=0", fmt.Sprintf("key-int-max=%d", eo.keyInt(src.FPS)),
		fmt.Sprintf("bitrate=%d", eo.Bitrate), "speed-preset=" + eo.Preset, fmt.Sprintf("threads=%d", eo.Threads), "aud=true", "byte-stream=true"}
	if eo.Tune != "none" {
		x264 = append(x264, "tune="+eo.Tune)
	}
	args = append(args, "!")
	args = append(args, x264...)
	args = append(args, "!", "video/x-h264,stream-format=byte-stream,alignment=au,profile=baseline", "!", "fdsink", "fd=1", "sync=false")
	return args, nil
}

// GStreamerElements lists the elements the gst-launch-1.0 pipeline for
// src names, in order and without repeats. uridecodebin (file and URL
// inputs) plugs more at run time: a source for the URI's scheme, a
// demuxer and a decoder for what it finds.
func GStreamerElements(src Source, eo EncoderOptions) ([]string, error) {
	argv, err := encoderCommand(ToolGStreamer, src, eo)
	if err != nil {
		return nil, err
	}
	var elems []string
	next := true // the first word, and every word after "!", starts an element or caps
	for _, a := range argv[1:] {
		switch {
		case a == "!":
			next = true
		case strings.HasPrefix(a, "-"):
		case next:
			next = false
			if !strings.Contains(a, "/") && !slices.Contains(elems, a) { // caps are media/type,...
				elems = append(elems, a)
			}
		}
	}
	return elems, nil
}

func gstArray(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return "<" + strings.Join(s, ",") + ">"
}

func ffmpegCommand(src Source, eo EncoderOptions) ([]string, error) {
	rate := rational(src.FPS)
	args := []string{"ffmpeg", "-hide_banner", "-loglevel", "error"}
	switch src.Kind {
	case InputTestPattern:
		args = append(args, "-nostdin", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%s", src.Width, src.Height, rate))
	case InputRaw:
		pf := src.PixelFormat
		if pf.name == "" {
			pf = PixelI420
		}
		args = append(args, "-f", "rawvideo", "-pix_fmt", pf.ffmpeg, "-video_size", fmt.Sprintf("%dx%d", src.Width, src.Height),
			"-framerate", rate, "-i", "pipe:0")
	case InputFile:
		args = append(args, "-nostdin", "-i", "file:"+src.Location)
	case InputURL:
		args = append(args, "-nostdin")
		if strings.HasPrefix(strings.ToLower(src.Location), "rtsp") {
			args = append(args, "-rtsp_transport", "tcp")
		}
		args = append(args, "-i", src.Location)
	default:
		return nil, fmt.Errorf("encoder: unknown input kind %d", src.Kind)
	}
	vf := "fps=" + rate
	if src.Width > 0 && src.Kind != InputTestPattern && src.Kind != InputRaw {
		vf += fmt.Sprintf(",scale=%d:%d", src.Width, src.Height)
	}
	vf += ",format=yuv420p"
	args = append(args, "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", vf,
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", eo.Preset)
	if eo.Tune != "none" {
		args = append(args, "-tune", eo.Tune)
	}
	args = append(args, "-bf", "0", "-g", strconv.Itoa(eo.keyInt(src.FPS)), "-b:v", fmt.Sprintf("%dk", eo.Bitrate),
		"-x264-params", "aud=1", "-threads", strconv.Itoa(eo.Threads))
	if src.Frames > 0 {
		args = append(args, "-frames:v", strconv.FormatInt(src.Frames, 10))
	}
	args = append(args, "-f", "h264", "pipe:1")
	return args, nil
}

// tail keeps the last bytes written to it (an encoder's stderr).
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(bytes.ToValidUTF8(t.buf, nil)))
}

// encoderProc is a running encoder subprocess.
type encoderProc struct {
	tool   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr *tail
	redact Redactor
	ctx    context.Context
	maxRSS int64 // KiB, after wait
}

// startEncoder starts the encoder. Cancelling ctx interrupts it (SIGINT,
// so that it flushes what it holds) and kills it 5 s later.
func startEncoder(ctx context.Context, tool string, src Source, eo EncoderOptions, log *slog.Logger) (*encoderProc, error) {
	argv, err := encoderCommand(tool, src, eo)
	if err != nil {
		return nil, err
	}
	red := NewRedactor(src.Location)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	p := &encoderProc{tool: tool, cmd: cmd, stderr: &tail{max: 8 << 10}, redact: red, ctx: ctx}
	cmd.Stderr = p.stderr
	if src.Kind == InputRaw {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	if p.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	log.Info("starting encoder", "tool", tool, "command", red.Redact(strings.Join(argv, " ")))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	return p, nil
}

// wait waits for the encoder to exit. An exit caused by cancelling its
// context is not an error.
func (p *encoderProc) wait() error {
	err := p.cmd.Wait()
	if ps := p.cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			p.maxRSS = ru.Maxrss
		}
	}
	if err == nil || p.ctx.Err() != nil {
		return nil
	}
	msg := p.redact.Redact(p.stderr.String())
	if len(msg) > 2000 {
		msg = "..." + msg[len(msg)-2000:]
	}
	if msg != "" {
		return fmt.Errorf("encoder %s failed: %w: %s", p.tool, err, msg)
	}
	return fmt.Errorf("encoder %s failed: %w", p.tool, err)
}
