package cli

import (
	"context"
	"flag"
	"fmt"
	"reflect"
	"strconv"

	"github.com/kgate/kgate/internal/app"
	"github.com/kgate/kgate/internal/app/worker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/stream"
)

// boolFlag is a flag that may be given without a value (--create-stream)
// and lands in the config tree through configFlags like the others.
type boolFlag struct{ v *string }

func (b boolFlag) String() string {
	if b.v == nil {
		return ""
	}
	return *b.v
}

func (b boolFlag) Set(s string) error {
	if _, err := strconv.ParseBool(s); err != nil {
		return fmt.Errorf("invalid boolean %q", s)
	}
	*b.v = s
	return nil
}

func (b boolFlag) IsBoolFlag() bool { return true }

func (cf *configFlags) addBool(name, usage string, target func(*config.Config) reflect.Value) {
	v := new(string)
	cf.fs.Var(boolFlag{v}, name, usage+settingNotes(target, ""))
	cf.targets[name] = target
	cf.values[name] = v
}

// streamFlags registers `kgate stream`'s flags. Keys are deliberately not
// flags: secrets never go on the command line (use the environment, the
// YAML file or a credentials file).
func streamFlags(fs *flag.FlagSet) *configFlags {
	cf := newConfigFlags(fs, config.StreamCommand)

	cf.add("input", "testsrc, - (raw frames on stdin), an rtsp:// or http(s):// URL, or a video file", field(func(c *config.Config) any { return &c.Stream.Input }))
	cf.add("width", fmt.Sprintf("output width; 0 keeps the input's (raw frames: required; testsrc: %d)", worker.TestPatternWidth), field(func(c *config.Config) any { return &c.Stream.Width }))
	cf.add("height", fmt.Sprintf("output height; 0 keeps the input's (raw frames: required; testsrc: %d)", worker.TestPatternHeight), field(func(c *config.Config) any { return &c.Stream.Height }))
	cf.add("fps", fmt.Sprintf("output frame rate; 0 detects it (testsrc: %v)", worker.TestPatternFPS), field(func(c *config.Config) any { return &c.Stream.FPS }))
	cf.add("pixel-format", "raw frame layout: i420, nv12, rgb24, bgr24, rgba, bgra, gray8", field(func(c *config.Config) any { return &c.Stream.PixelFormat }))
	cf.add("frames", "stop after this many frames (0: until the input ends)", field(func(c *config.Config) any { return &c.Stream.Frames }))
	cf.add("duration", "stop after this much video, e.g. 30s (0: until the input ends)", field(func(c *config.Config) any { return &c.Stream.Duration }))
	cf.addBool("realtime", "pace frames to the wall clock; unset: on for files and testsrc sent to KVS", field(func(c *config.Config) any { return &c.Stream.Realtime }))

	cf.add("encoder", "gst (GStreamer x264enc), ffmpeg or auto", field(func(c *config.Config) any { return &c.Stream.Encoder.Tool }))
	cf.add("bitrate", "H.264 bitrate in kbit/s", field(func(c *config.Config) any { return &c.Stream.Encoder.Bitrate }))
	cf.add("key-int-max", fmt.Sprintf("longest keyframe interval in frames, capped to %s of video", stream.MaxFragment), field(func(c *config.Config) any { return &c.Stream.Encoder.KeyIntMax }))
	cf.add("preset", "x264 speed preset", field(func(c *config.Config) any { return &c.Stream.Encoder.Preset }))
	cf.add("tune", "x264 tuning or none", field(func(c *config.Config) any { return &c.Stream.Encoder.Tune }))
	cf.add("threads", "encoder threads (0: automatic)", field(func(c *config.Config) any { return &c.Stream.Encoder.Threads }))

	cf.add("mkv", "write a Matroska file here", field(func(c *config.Config) any { return &c.Stream.MKV.Path }))
	cf.add("hls", "write HLS segments and index.m3u8 into this directory", field(func(c *config.Config) any { return &c.Stream.HLS.Dir }))
	cf.add("hls-segment-duration", "HLS target segment duration", field(func(c *config.Config) any { return &c.Stream.HLS.SegmentDuration }))
	cf.add("hls-playlist-size", "keep only the last N HLS segments (0: all)", field(func(c *config.Config) any { return &c.Stream.HLS.PlaylistSize }))

	cf.add("region", "AWS region of the stream; AWS_REGION when unset", field(func(c *config.Config) any { return &c.Stream.KVS.Region }))
	cf.add("stream-name", "Kinesis Video Streams stream name (enables the KVS sink)", field(func(c *config.Config) any { return &c.Stream.KVS.StreamName }))
	cf.add("stream-arn", "Kinesis Video Streams stream ARN (instead of the name)", field(func(c *config.Config) any { return &c.Stream.KVS.StreamARN }))
	cf.addBool("create-stream", "create the stream when it does not exist", field(func(c *config.Config) any { return &c.Stream.KVS.CreateStream }))
	cf.add("retention-hours", "data retention of a created stream, in hours", field(func(c *config.Config) any { return &c.Stream.KVS.RetentionHours }))
	cf.add("endpoint", "KVS control-plane URL (tests, other partitions)", field(func(c *config.Config) any { return &c.Stream.KVS.Endpoint }))
	cf.add("fragment-duration", "KVS fragments end at the first keyframe after this long", field(func(c *config.Config) any { return &c.Stream.KVS.FragmentDuration }))
	cf.add("ack-level", "auto, received or persisted: when a fragment stops being kept for resending", field(func(c *config.Config) any { return &c.Stream.KVS.AckLevel }))
	cf.add("ack-timeout", "resend fragments not acknowledged within this time", field(func(c *config.Config) any { return &c.Stream.KVS.AckTimeout }))
	cf.add("max-buffer-bytes", "bytes of unacknowledged fragments kept", field(func(c *config.Config) any { return &c.Stream.KVS.MaxBufferBytes }))
	cf.add("buffer-full", "drop (the oldest fragment) or block", field(func(c *config.Config) any { return &c.Stream.KVS.BufferFull }))
	cf.add("credentials", "auto, static (KGATE_STREAM_KVS_ACCESS_KEY_ID/_SECRET_ACCESS_KEY), env (AWS_*), file or chain", field(func(c *config.Config) any { return &c.Stream.KVS.Credentials.Source }))
	cf.add("credentials-file", "KVS producer credentials file (CREDENTIALS\\t<key>\\t<expiry>\\t<secret>\\t<token>), re-read before expiry", field(func(c *config.Config) any { return &c.Stream.KVS.Credentials.File }))
	cf.add("profile", "AWS shared-config profile (chain source)", field(func(c *config.Config) any { return &c.Stream.KVS.Credentials.Profile }))
	cf.add("role-arn", "IAM role to assume with the credentials", field(func(c *config.Config) any { return &c.Stream.KVS.Credentials.RoleARN }))

	cf.add("metrics-listen", "serve Prometheus /metrics on this address (empty: none)", field(func(c *config.Config) any { return &c.Stream.MetricsListen }))
	cf.add("flush-timeout", "wait this long for the last KVS acknowledgements", field(func(c *config.Config) any { return &c.Stream.FlushTimeout }))
	cf.add("progress-interval", "log progress this often (0: never)", field(func(c *config.Config) any { return &c.Stream.ProgressInterval }))
	return cf
}

// runStream implements `kgate stream`.
func runStream(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("kgate stream", flag.ContinueOnError)
	cf := streamFlags(fs)
	if code, ok := parseFlags(fs, args, env.Stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return errorf(env, exitConfig, "stream", "unexpected arguments %q (flags only)", fs.Args())
	}
	cfg, code := cf.loadValid(env, nil)
	if code != exitOK {
		return code
	}
	if err := cfg.Stream.CheckRun(); err != nil {
		return errorf(env, exitConfig, "stream", "%v", err)
	}
	app.PrivateFiles() // recordings, frames and temporary files are the user's alone
	logger := newLogger(env, cfg.Log)
	if err := worker.Stream(ctx, cfg.Stream, worker.StreamEnv{Stdin: env.Stdin, Getenv: env.Getenv, UserAgent: "kgate/" + version}, logger); err != nil {
		logger.Error("kgate stream failed", "err", err)
		return exitFail
	}
	return exitOK
}
