package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Stream configures `kgate stream`: where frames come from, how they are
// encoded, and the sinks (Kinesis Video Streams, a Matroska file, HLS).
type Stream struct {
	// Input is "testsrc" (a test pattern), "-" (raw frames on stdin), an
	// rtsp(s):// or http(s):// URL, or a video file path.
	Input string `yaml:"input" env:"KGATE_STREAM_INPUT"`
	// Width and Height of the output; 0 keeps the input's (raw frames need
	// them; the test pattern defaults to 640x480).
	Width  int `yaml:"width" env:"KGATE_STREAM_WIDTH"`
	Height int `yaml:"height" env:"KGATE_STREAM_HEIGHT"`
	// FPS is the output frame rate; 0 detects it (ffprobe for files and
	// URLs, the arrival rate for raw frames; the test pattern uses 30).
	FPS float64 `yaml:"fps" env:"KGATE_STREAM_FPS"`
	// PixelFormat of raw frames on stdin: i420, nv12, rgb24, bgr24, rgba,
	// bgra or gray8.
	PixelFormat string `yaml:"pixel_format" env:"KGATE_STREAM_PIXEL_FORMAT"`
	// Frames stops after this many frames (0: until the input ends).
	Frames int64 `yaml:"frames" env:"KGATE_STREAM_FRAMES"`
	// Duration stops after this much video (0: until the input ends).
	Duration Duration `yaml:"duration" env:"KGATE_STREAM_DURATION"`
	// Realtime paces frames to the wall clock. Unset means: on when
	// streaming a file or the test pattern to KVS (whose timecodes are
	// wall-clock times), off otherwise.
	Realtime *bool `yaml:"realtime" env:"KGATE_STREAM_REALTIME"`
	// FlushTimeout bounds the wait for the last KVS acknowledgements when
	// the input ends or kgate is stopped.
	FlushTimeout Duration `yaml:"flush_timeout" env:"KGATE_STREAM_FLUSH_TIMEOUT"`
	// ProgressInterval logs progress this often (0: never).
	ProgressInterval Duration `yaml:"progress_interval" env:"KGATE_STREAM_PROGRESS_INTERVAL"`
	// MetricsListen, when set, serves /metrics there (keep it on loopback
	// unless it is protected).
	MetricsListen string `yaml:"metrics_listen" env:"KGATE_STREAM_METRICS_LISTEN"`

	Encoder StreamEncoder `yaml:"encoder"`
	MKV     StreamMKV     `yaml:"mkv"`
	HLS     StreamHLS     `yaml:"hls"`
	KVS     StreamKVS     `yaml:"kvs"`
}

// StreamEncoder configures H.264 encoding (baseline, no B-frames).
type StreamEncoder struct {
	// Tool is gst (GStreamer x264enc), ffmpeg (libx264) or auto.
	Tool string `yaml:"tool" env:"KGATE_STREAM_ENCODER"`
	// Bitrate in kbit/s.
	Bitrate int `yaml:"bitrate" env:"KGATE_STREAM_BITRATE"`
	// KeyIntMax is the longest keyframe interval in frames (capped to 10 s).
	KeyIntMax int `yaml:"key_int_max" env:"KGATE_STREAM_KEY_INT_MAX"`
	// Preset is the x264 speed preset.
	Preset string `yaml:"preset" env:"KGATE_STREAM_PRESET"`
	// Tune is the x264 tuning, or none.
	Tune string `yaml:"tune" env:"KGATE_STREAM_TUNE"`
	// Threads is the encoder's thread count (0: automatic).
	Threads int `yaml:"threads" env:"KGATE_STREAM_THREADS"`
}

// StreamMKV configures the Matroska file sink.
type StreamMKV struct {
	// Path of the .mkv file to write (empty: no file).
	Path string `yaml:"path" env:"KGATE_STREAM_MKV"`
}

// StreamHLS configures the HLS sink.
type StreamHLS struct {
	// Dir receives the segments and index.m3u8 (empty: no HLS).
	Dir string `yaml:"dir" env:"KGATE_STREAM_HLS"`
	// SegmentDuration is the target segment length (cut at keyframes).
	SegmentDuration Duration `yaml:"segment_duration" env:"KGATE_STREAM_HLS_SEGMENT_DURATION"`
	// PlaylistSize keeps only the last N segments (0: all of them).
	PlaylistSize int `yaml:"playlist_size" env:"KGATE_STREAM_HLS_PLAYLIST_SIZE"`
}

// StreamKVS configures the Kinesis Video Streams sink.
type StreamKVS struct {
	Region string `yaml:"region" env:"KGATE_STREAM_KVS_REGION"`
	// StreamName or StreamARN selects the stream (setting one enables the
	// sink).
	StreamName string `yaml:"stream_name" env:"KGATE_STREAM_KVS_STREAM_NAME"`
	StreamARN  string `yaml:"stream_arn" env:"KGATE_STREAM_KVS_STREAM_ARN"`
	// CreateStream creates a missing stream (by name).
	CreateStream bool `yaml:"create_stream" env:"KGATE_STREAM_KVS_CREATE_STREAM"`
	// RetentionHours of a stream kgate creates (0 stores nothing).
	RetentionHours int `yaml:"retention_hours" env:"KGATE_STREAM_KVS_RETENTION_HOURS"`
	// Endpoint overrides the control-plane URL (tests, other partitions).
	Endpoint string `yaml:"endpoint" env:"KGATE_STREAM_KVS_ENDPOINT"`
	// FragmentDuration: a fragment ends at the first keyframe after this
	// long (at least 200 ms; fragments never exceed 10 s).
	FragmentDuration Duration `yaml:"fragment_duration" env:"KGATE_STREAM_KVS_FRAGMENT_DURATION"`
	// AckLevel is persisted, received or auto (persisted when the stream
	// keeps data).
	AckLevel string `yaml:"ack_level" env:"KGATE_STREAM_KVS_ACK_LEVEL"`
	// AckTimeout: a fragment not acknowledged in time is resent on a new
	// connection.
	AckTimeout Duration `yaml:"ack_timeout" env:"KGATE_STREAM_KVS_ACK_TIMEOUT"`
	// MaxBufferBytes bounds fragments kept until acknowledged.
	MaxBufferBytes Bytes `yaml:"max_buffer_bytes" env:"KGATE_STREAM_KVS_MAX_BUFFER_BYTES"`
	// BufferFull is drop (the oldest fragment, like kvssink) or block (the
	// encoder waits).
	BufferFull  string            `yaml:"buffer_full" env:"KGATE_STREAM_KVS_BUFFER_FULL"`
	Credentials StreamCredentials `yaml:"credentials"`
}

// StreamCredentials selects the AWS credentials of the KVS sink. Keys are
// never taken from the command line.
type StreamCredentials struct {
	// Source is auto, static, env, file or chain.
	Source string `yaml:"source" env:"KGATE_STREAM_KVS_CREDENTIALS"`
	// Static keys (masked in every log line and in config print).
	AccessKeyID     Secret `yaml:"access_key_id" env:"KGATE_STREAM_KVS_ACCESS_KEY_ID"`
	SecretAccessKey Secret `yaml:"secret_access_key" env:"KGATE_STREAM_KVS_SECRET_ACCESS_KEY"`
	SessionToken    Secret `yaml:"session_token" env:"KGATE_STREAM_KVS_SESSION_TOKEN"`
	// File is a KVS producer credentials file, re-read before it expires.
	File string `yaml:"file" env:"KGATE_STREAM_KVS_CREDENTIALS_FILE"`
	// Profile of the AWS shared configuration (chain source).
	Profile string `yaml:"profile" env:"KGATE_STREAM_KVS_PROFILE"`
	// RoleARN, when set, is assumed with the credentials above.
	RoleARN string `yaml:"role_arn" env:"KGATE_STREAM_KVS_ROLE_ARN"`
}

// DefaultStream returns the stream section's defaults.
func DefaultStream() Stream {
	return Stream{
		PixelFormat:  "i420",
		FlushTimeout: Duration(30 * time.Second),
		Encoder:      StreamEncoder{Tool: "auto", Bitrate: 500, KeyIntMax: 45, Preset: "veryfast", Tune: "zerolatency"},
		HLS:          StreamHLS{SegmentDuration: Duration(2 * time.Second)},
		KVS: StreamKVS{
			RetentionHours: 2, FragmentDuration: Duration(time.Second), AckLevel: "auto", AckTimeout: Duration(30 * time.Second),
			MaxBufferBytes: 128 << 20, BufferFull: "drop", Credentials: StreamCredentials{Source: "auto"},
		},
	}
}

// Value lists validate checks against; the stream package accepts the same.
var (
	streamTools        = []string{"auto", "gst", "ffmpeg"}
	streamPixelFormats = []string{"i420", "nv12", "rgb24", "bgr24", "rgba", "bgra", "gray8"}
	x264Presets        = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}
	x264Tunes          = []string{"none", "film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency"}
	credentialSources  = []string{"auto", "static", "env", "file", "chain"}
	kvsStreamName      = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,256}$`)
)

func oneOf(ps *Problems, key, v string, list []string) {
	if !slices.Contains(list, v) {
		ps.Add(key, "must be one of %s, got %q", strings.Join(list, ", "), v)
	}
}

// validate checks the section's values; whether a run has what it needs
// (an input, a sink) is CheckRun's job, so that other commands sharing the
// file are not bothered.
func (s *Stream) validate(ps *Problems, prefix string) {
	if s.Width < 0 || s.Height < 0 || s.Width%2 != 0 || s.Height%2 != 0 || s.Width > 8192 || s.Height > 8192 {
		ps.Add(prefix+".width", "width and height must be even, from 0 to 8192, got %dx%d", s.Width, s.Height)
	}
	if (s.Width == 0) != (s.Height == 0) {
		ps.Add(prefix+".height", "set width and height together")
	}
	if s.FPS < 0 || s.FPS > 240 {
		ps.Add(prefix+".fps", "must be from 0 (detect) to 240, got %v", s.FPS)
	}
	oneOf(ps, prefix+".pixel_format", strings.ToLower(s.PixelFormat), streamPixelFormats)
	if s.Frames < 0 {
		ps.Add(prefix+".frames", "must not be negative")
	}
	if s.Duration < 0 {
		ps.Add(prefix+".duration", "must not be negative")
	}
	positive(ps, prefix+".flush_timeout", s.FlushTimeout)
	if s.ProgressInterval < 0 {
		ps.Add(prefix+".progress_interval", "must not be negative")
	}
	if s.MetricsListen != "" {
		CheckHostPort(ps, prefix+".metrics_listen", s.MetricsListen)
	}
	e := s.Encoder
	oneOf(ps, prefix+".encoder.tool", e.Tool, streamTools)
	if e.Bitrate < 1 || e.Bitrate > 100000 {
		ps.Add(prefix+".encoder.bitrate", "must be from 1 to 100000 kbit/s, got %d", e.Bitrate)
	}
	if e.KeyIntMax < 1 {
		ps.Add(prefix+".encoder.key_int_max", "must be at least 1, got %d", e.KeyIntMax)
	}
	oneOf(ps, prefix+".encoder.preset", e.Preset, x264Presets)
	oneOf(ps, prefix+".encoder.tune", e.Tune, x264Tunes)
	if e.Threads < 0 || e.Threads > 128 {
		ps.Add(prefix+".encoder.threads", "must be from 0 (automatic) to 128, got %d", e.Threads)
	}
	positive(ps, prefix+".hls.segment_duration", s.HLS.SegmentDuration)
	if s.HLS.PlaylistSize < 0 {
		ps.Add(prefix+".hls.playlist_size", "must not be negative")
	}
	s.KVS.validate(ps, prefix+".kvs")
}

func (k *StreamKVS) validate(ps *Problems, prefix string) {
	if k.StreamName != "" && k.StreamARN != "" {
		ps.Add(prefix+".stream_arn", "set stream_name or stream_arn, not both")
	}
	if k.StreamName != "" && !kvsStreamName.MatchString(k.StreamName) {
		ps.Add(prefix+".stream_name", "must be 1-256 characters of a-z, A-Z, 0-9, '_', '.', '-', got %q", k.StreamName)
	}
	if k.StreamARN != "" && !strings.HasPrefix(k.StreamARN, "arn:") {
		ps.Add(prefix+".stream_arn", "must be an ARN (arn:aws:kinesisvideo:...), got %q", k.StreamARN)
	}
	if k.CreateStream && k.StreamName == "" && k.StreamARN != "" {
		ps.Add(prefix+".create_stream", "needs stream_name (a stream is created by name)")
	}
	if k.RetentionHours < 0 || k.RetentionHours > 87600 {
		ps.Add(prefix+".retention_hours", "must be from 0 to 87600, got %d", k.RetentionHours)
	}
	if k.Endpoint != "" {
		u, err := url.Parse(k.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.Add(prefix+".endpoint", "must be an absolute http(s) URL, got %q", k.Endpoint)
		}
	}
	if d := k.FragmentDuration.D(); d < 200*time.Millisecond || d > 10*time.Second {
		ps.Add(prefix+".fragment_duration", "must be from 200ms to 10s (KVS takes at most 5 fragments per second and 10 s per fragment), got %s", k.FragmentDuration)
	}
	oneOf(ps, prefix+".ack_level", k.AckLevel, []string{"auto", "received", "persisted"})
	positive(ps, prefix+".ack_timeout", k.AckTimeout)
	if k.MaxBufferBytes < 1<<20 {
		ps.Add(prefix+".max_buffer_bytes", "must be at least 1 MiB, got %d", k.MaxBufferBytes)
	}
	oneOf(ps, prefix+".buffer_full", k.BufferFull, []string{"drop", "block"})
	c := k.Credentials
	oneOf(ps, prefix+".credentials.source", c.Source, credentialSources)
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		ps.Add(prefix+".credentials.access_key_id", "set access_key_id and secret_access_key together")
	}
	if c.Source == "static" && c.AccessKeyID == "" {
		ps.Add(prefix+".credentials.access_key_id", "static credentials need access_key_id and secret_access_key (YAML or KGATE_STREAM_KVS_ACCESS_KEY_ID / KGATE_STREAM_KVS_SECRET_ACCESS_KEY)")
	}
	if c.Source == "file" && c.File == "" {
		ps.Add(prefix+".credentials.file", "the file source needs a credentials file path")
	}
	if c.RoleARN != "" && !strings.HasPrefix(c.RoleARN, "arn:") {
		ps.Add(prefix+".credentials.role_arn", "must be an ARN, got %q", c.RoleARN)
	}
}

// KVSEnabled reports whether the KVS sink is configured.
func (s *Stream) KVSEnabled() bool { return s.KVS.StreamName != "" || s.KVS.StreamARN != "" }

// CheckRun reports what `kgate stream` needs beyond valid values: an
// input, at least one sink, a size for raw frames, readable files.
func (s *Stream) CheckRun() error {
	var ps Problems
	if s.Input == "" {
		ps.Add("stream.input", "must be set (testsrc, -, a URL or a file)")
	}
	if !s.KVSEnabled() && s.MKV.Path == "" && s.HLS.Dir == "" {
		ps.Add("stream", "no sink: set kvs.stream_name (or stream_arn), mkv.path or hls.dir")
	}
	if s.Input == "-" && (s.Width == 0 || s.Height == 0) {
		ps.Add("stream.width", "raw frames on stdin need width and height")
	}
	if s.Input != "" && s.Input != "-" && s.Input != "testsrc" && !strings.Contains(s.Input, "://") {
		fileReadable(&ps, "stream.input", s.Input)
	}
	if s.KVS.Credentials.Source == "file" {
		fileReadable(&ps, "stream.kvs.credentials.file", s.KVS.Credentials.File)
	}
	if s.MKV.Path != "" && s.MKV.Path == s.Input {
		ps.Add("stream.mkv.path", "is the input file")
	}
	return ps.Err()
}
