package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kvs"
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
	cf.fs.Var(boolFlag{v}, name, usage)
	cf.targets[name] = target
	cf.values[name] = v
}

// field maps a flag onto the config field get points at.
func field(get func(c *config.Config) any) func(*config.Config) reflect.Value {
	return func(c *config.Config) reflect.Value { return reflect.ValueOf(get(c)).Elem() }
}

// streamFlags registers `kgate stream`'s flags. Keys are deliberately not
// flags: secrets never go on the command line (use the environment, the
// YAML file or a credentials file).
func streamFlags(fs *flag.FlagSet) *configFlags {
	cf := &configFlags{fs: fs, targets: map[string]func(*config.Config) reflect.Value{}, values: map[string]*string{}}
	fs.StringVar(&cf.path, "config", "", "YAML configuration file (env KGATE_CONFIG)")
	cf.add("log-level", "debug, info, warn or error (env KGATE_LOG_LEVEL)", field(func(c *config.Config) any { return &c.Log.Level }))
	cf.add("log-format", "auto, text or json (env KGATE_LOG_FORMAT)", field(func(c *config.Config) any { return &c.Log.Format }))

	cf.add("input", "testsrc, - (raw frames on stdin), an rtsp:// or http(s):// URL, or a video file (env KGATE_STREAM_INPUT)", field(func(c *config.Config) any { return &c.Stream.Input }))
	cf.add("width", "output width; 0 keeps the input's (raw frames: required; testsrc: 640)", field(func(c *config.Config) any { return &c.Stream.Width }))
	cf.add("height", "output height; 0 keeps the input's (raw frames: required; testsrc: 480)", field(func(c *config.Config) any { return &c.Stream.Height }))
	cf.add("fps", "output frame rate; 0 detects it (testsrc: 30)", field(func(c *config.Config) any { return &c.Stream.FPS }))
	cf.add("pixel-format", "raw frame layout: i420, nv12, rgb24, bgr24, rgba, bgra, gray8", field(func(c *config.Config) any { return &c.Stream.PixelFormat }))
	cf.add("frames", "stop after this many frames (0: until the input ends)", field(func(c *config.Config) any { return &c.Stream.Frames }))
	cf.add("duration", "stop after this much video, e.g. 30s (0: until the input ends)", field(func(c *config.Config) any { return &c.Stream.Duration }))
	cf.addBool("realtime", "pace frames to the wall clock (default: on for files and testsrc sent to KVS)", field(func(c *config.Config) any { return &c.Stream.Realtime }))

	cf.add("encoder", "gst (GStreamer x264enc), ffmpeg or auto", field(func(c *config.Config) any { return &c.Stream.Encoder.Tool }))
	cf.add("bitrate", "H.264 bitrate in kbit/s (default 500)", field(func(c *config.Config) any { return &c.Stream.Encoder.Bitrate }))
	cf.add("key-int-max", "longest keyframe interval in frames (default 45, capped to 10 s)", field(func(c *config.Config) any { return &c.Stream.Encoder.KeyIntMax }))
	cf.add("preset", "x264 speed preset (default veryfast)", field(func(c *config.Config) any { return &c.Stream.Encoder.Preset }))
	cf.add("tune", "x264 tuning or none (default zerolatency)", field(func(c *config.Config) any { return &c.Stream.Encoder.Tune }))
	cf.add("threads", "encoder threads (0: automatic)", field(func(c *config.Config) any { return &c.Stream.Encoder.Threads }))

	cf.add("mkv", "write a Matroska file here", field(func(c *config.Config) any { return &c.Stream.MKV.Path }))
	cf.add("hls", "write HLS segments and index.m3u8 into this directory", field(func(c *config.Config) any { return &c.Stream.HLS.Dir }))
	cf.add("hls-segment-duration", "HLS target segment duration (default 2s)", field(func(c *config.Config) any { return &c.Stream.HLS.SegmentDuration }))
	cf.add("hls-playlist-size", "keep only the last N HLS segments (0: all)", field(func(c *config.Config) any { return &c.Stream.HLS.PlaylistSize }))

	cf.add("region", "AWS region of the stream (env KGATE_STREAM_KVS_REGION, AWS_REGION)", field(func(c *config.Config) any { return &c.Stream.KVS.Region }))
	cf.add("stream-name", "Kinesis Video Streams stream name (enables the KVS sink)", field(func(c *config.Config) any { return &c.Stream.KVS.StreamName }))
	cf.add("stream-arn", "Kinesis Video Streams stream ARN (instead of the name)", field(func(c *config.Config) any { return &c.Stream.KVS.StreamARN }))
	cf.addBool("create-stream", "create the stream when it does not exist", field(func(c *config.Config) any { return &c.Stream.KVS.CreateStream }))
	cf.add("retention-hours", "data retention of a created stream (default 2)", field(func(c *config.Config) any { return &c.Stream.KVS.RetentionHours }))
	cf.add("endpoint", "KVS control-plane URL (tests, other partitions)", field(func(c *config.Config) any { return &c.Stream.KVS.Endpoint }))
	cf.add("fragment-duration", "KVS fragments end at the first keyframe after this long (default 1s)", field(func(c *config.Config) any { return &c.Stream.KVS.FragmentDuration }))
	cf.add("ack-level", "auto, received or persisted: when a fragment stops being kept for resending", field(func(c *config.Config) any { return &c.Stream.KVS.AckLevel }))
	cf.add("ack-timeout", "resend fragments not acknowledged within this time (default 30s)", field(func(c *config.Config) any { return &c.Stream.KVS.AckTimeout }))
	cf.add("max-buffer-bytes", "bytes of unacknowledged fragments kept (default 128 MiB)", field(func(c *config.Config) any { return &c.Stream.KVS.MaxBufferBytes }))
	cf.add("buffer-full", "drop (the oldest fragment) or block", field(func(c *config.Config) any { return &c.Stream.KVS.BufferFull }))
	cf.add("credentials", "auto, static (KGATE_STREAM_KVS_ACCESS_KEY_ID/_SECRET_ACCESS_KEY), env (AWS_*), file or chain", field(func(c *config.Config) any { return &c.Stream.KVS.Credentials.Source }))
	cf.add("credentials-file", "KVS producer credentials file (CREDENTIALS\\t<key>\\t<expiry>\\t<secret>\\t<token>), re-read before expiry", field(func(c *config.Config) any { return &c.Stream.KVS.Credentials.File }))
	cf.add("profile", "AWS shared-config profile (chain source)", field(func(c *config.Config) any { return &c.Stream.KVS.Credentials.Profile }))
	cf.add("role-arn", "IAM role to assume with the credentials", field(func(c *config.Config) any { return &c.Stream.KVS.Credentials.RoleARN }))

	cf.add("metrics-listen", "serve Prometheus /metrics on this address (default off)", field(func(c *config.Config) any { return &c.Stream.MetricsListen }))
	cf.add("flush-timeout", "wait this long for the last KVS acknowledgements (default 30s)", field(func(c *config.Config) any { return &c.Stream.FlushTimeout }))
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
	cfg, code := cf.loadValid(env, "stream")
	if code != exitOK {
		return code
	}
	if err := cfg.Stream.CheckRun(); err != nil {
		return errorf(env, exitConfig, "stream", "%v", err)
	}
	logger := newLogger(env, cfg.Log)
	if err := streamMain(ctx, env, cfg.Stream, logger); err != nil {
		logger.Error("kgate stream failed", "err", err)
		return exitFail
	}
	return exitOK
}

func streamMain(ctx context.Context, env Env, sc config.Stream, log *slog.Logger) error {
	kind, loc, err := stream.ParseInput(sc.Input)
	if err != nil {
		return err
	}
	pf, err := stream.ParsePixelFormat(sc.PixelFormat)
	if err != nil {
		return err
	}
	src := stream.Source{Kind: kind, Location: loc, Width: sc.Width, Height: sc.Height, FPS: sc.FPS, PixelFormat: pf}
	if kind == stream.InputTestPattern {
		if src.Width == 0 {
			src.Width, src.Height = 640, 480
		}
		if src.FPS == 0 {
			src.FPS = 30
		}
	}
	realtime := sc.KVSEnabled() && (kind == stream.InputFile || kind == stream.InputTestPattern)
	if sc.Realtime != nil {
		realtime = *sc.Realtime
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sm := stream.NewMetrics(reg)
	if sc.MetricsListen != "" {
		_, stop, err := startOps(sc.MetricsListen, reg, nil, config.Default().HTTP, log)
		if err != nil {
			return err
		}
		defer stop()
	}

	var sinks []stream.Sink
	if sc.MKV.Path != "" {
		sinks = append(sinks, stream.NewMKVFile(sc.MKV.Path, stream.MuxerOptions{MinFragment: sc.KVS.FragmentDuration.D()}, log, sm))
	}
	if sc.HLS.Dir != "" {
		sinks = append(sinks, stream.NewHLS(sc.HLS.Dir, stream.HLSOptions{SegmentDuration: sc.HLS.SegmentDuration.D(), PlaylistSize: sc.HLS.PlaylistSize}, log, sm))
	}
	if sc.KVSEnabled() {
		k, err := kvsSink(ctx, env, sc, log, reg, sm)
		if err != nil {
			return err
		}
		sinks = append(sinks, k)
	}

	log.Info("kgate stream starting", "input", inputForLog(kind, loc), "kind", kind.String(), "realtime", realtime, "sinks", len(sinks))
	res, err := stream.Run(ctx, stream.Options{
		Source: src,
		Encoder: stream.EncoderOptions{Tool: sc.Encoder.Tool, Bitrate: sc.Encoder.Bitrate, KeyIntMax: sc.Encoder.KeyIntMax,
			Preset: sc.Encoder.Preset, Tune: sc.Encoder.Tune, Threads: sc.Encoder.Threads},
		Limit: sc.Frames, LimitDuration: sc.Duration.D(), Realtime: realtime, Stdin: env.Stdin,
		FlushTimeout: sc.FlushTimeout.D(), ProgressInterval: sc.ProgressInterval.D(), Logger: log, Metrics: sm,
	}, stream.Tee(sinks...))
	var self syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	bitrate := 0.0
	if res.Video > 0 {
		bitrate = math.Round(float64(res.Bytes*8) / res.Video.Seconds() / 1000)
	}
	log.Info("kgate stream finished", "frames", res.Frames, "width", res.Width, "height", res.Height, "fps", res.FPS,
		"video", res.Video.Round(time.Millisecond), "elapsed", res.Elapsed.Round(time.Millisecond),
		"encode_fps", math.Round(res.EncodeFPS()*10)/10, "bitrate_kbps", bitrate, "encoder", res.Tool,
		"max_rss_kb", self.Maxrss, "encoder_max_rss_kb", res.EncoderMaxRSS, "stopped", ctx.Err() != nil)
	return err
}

// inputForLog hides a URL's password.
func inputForLog(kind stream.InputKind, loc string) string {
	if kind == stream.InputURL {
		return stream.NewRedactor(loc).Redact(loc)
	}
	return loc
}

// kvsSink prepares the stream (creating it if asked) and returns the sink.
func kvsSink(ctx context.Context, env Env, sc config.Stream, log *slog.Logger, reg prometheus.Registerer, sm *stream.Metrics) (stream.Sink, error) {
	k := sc.KVS
	region := k.Region
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if region == "" {
			region = env.Getenv(v)
		}
	}
	c := k.Credentials
	awsCfg, desc, err := kvs.LoadAWSConfig(ctx, region, kvs.CredentialOptions{
		Source: c.Source, AccessKeyID: c.AccessKeyID.Reveal(), SecretAccessKey: c.SecretAccessKey.Reveal(), SessionToken: c.SessionToken.Reveal(),
		File: c.File, Profile: c.Profile, RoleARN: c.RoleARN, Getenv: env.Getenv, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("aws credentials: %w", err)
	}
	log.Info("aws credentials", "source", desc, "region", awsCfg.Region)
	ref := kvs.StreamRef{Name: k.StreamName, ARN: k.StreamARN}
	ctl := kvs.NewControl(awsCfg, kvs.ControlOptions{Endpoint: k.Endpoint}, log)
	var create *kvs.CreateOptions
	if k.CreateStream {
		create = &kvs.CreateOptions{RetentionHours: int32(k.RetentionHours)}
	}
	info, err := ctl.Prepare(ctx, ref, create, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	level := kvs.AckPersisted
	switch k.AckLevel {
	case "received":
		level = kvs.AckReceived
	case "auto":
		if info.RetentionHours == 0 {
			level = kvs.AckReceived // no PERSISTED events without retention
		}
	}
	up, err := kvs.NewUploader(kvs.Config{
		Stream: ref, Region: awsCfg.Region, Credentials: awsCfg.Credentials,
		Endpoint:       func(ctx context.Context) (string, error) { return ctl.DataEndpoint(ctx, ref) },
		AckLevel:       level,
		AckTimeout:     k.AckTimeout.D(),
		MaxBufferBytes: k.MaxBufferBytes,
		BlockWhenFull:  k.BufferFull == "block",
		UserAgent:      "kgate/" + version,
		Logger:         log,
		Metrics:        kvs.NewMetrics(reg),
	})
	if err != nil {
		return nil, err
	}
	log.Info("kvs sink", "stream", ref.String(), "ack_level", level.String(), "fragment_duration", k.FragmentDuration)
	return stream.NewKVSSink(up, stream.MuxerOptions{MinFragment: k.FragmentDuration.D()}, log, sm), nil
}
