package worker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"syscall"
	"time"

	"github.com/kgate/kgate/internal/app"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kvs"
	"github.com/kgate/kgate/internal/metrics"
	"github.com/kgate/kgate/internal/stream"
	"github.com/prometheus/client_golang/prometheus"
)

// StreamEnv is what `kgate stream` takes from its process.
type StreamEnv struct {
	Stdin     io.Reader           // raw frames, for --input -
	Getenv    func(string) string // AWS_REGION and the AWS credential variables
	UserAgent string
}

// The test pattern's size and rate when the configuration leaves them 0.
const (
	TestPatternWidth  = 640
	TestPatternHeight = 480
	TestPatternFPS    = 30
)

// Stream runs `kgate stream`: it encodes the input and writes it to every
// configured sink (.mkv, HLS, Kinesis Video Streams) until the input ends
// or ctx does, serving metrics meanwhile.
func Stream(ctx context.Context, sc config.Stream, env StreamEnv, log *slog.Logger) error {
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
			src.Width, src.Height = TestPatternWidth, TestPatternHeight
		}
		if src.FPS == 0 {
			src.FPS = TestPatternFPS
		}
	}
	realtime := sc.KVSEnabled() && (kind == stream.InputFile || kind == stream.InputTestPattern)
	if sc.Realtime != nil {
		realtime = *sc.Realtime
	}

	reg := metrics.NewRegistry()
	sm := stream.NewMetrics(reg)
	if sc.MetricsListen != "" {
		_, stop, err := app.StartOps(sc.MetricsListen, reg, nil, config.Default().HTTP, log)
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
func kvsSink(ctx context.Context, env StreamEnv, sc config.Stream, log *slog.Logger, reg prometheus.Registerer, sm *stream.Metrics) (stream.Sink, error) {
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
		MaxBufferBytes: int64(k.MaxBufferBytes),
		BlockWhenFull:  k.BufferFull == "block",
		UserAgent:      env.UserAgent,
		Logger:         log,
		Metrics:        kvs.NewMetrics(reg),
	})
	if err != nil {
		return nil, err
	}
	log.Info("kvs sink", "stream", ref.String(), "ack_level", level.String(), "fragment_duration", k.FragmentDuration)
	return stream.NewKVSSink(up, stream.MuxerOptions{MinFragment: k.FragmentDuration.D()}, log, sm), nil
}
