package stream

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/kvs"
	"github.com/kgate/kgate/internal/kvs/kvsfake"
)

// BenchmarkTestPattern measures the frames per second kgate sustains
// encoding a moving test pattern and streaming it into a Matroska file and
// the loopback KVS, against a baseline taken in the same run: the same
// encoder command with its output read and discarded. The encoder runs
// with one thread; pin the whole run to one core:
//
//	taskset -c 0 go test ./internal/stream -run '^$' -bench TestPattern -benchtime 3x -cpu 1
//
// Shared machines are noisy, so besides wall-clock rates (best of the
// runs) it reports CPU-time rates, which steal and contention distort far
// less: frames per CPU-second of the encoder plus the Go process (which
// here also runs the loopback KVS), i.e. what one core sustains.
//
// Metrics: fps and encoder-fps (wall clock, best run), cpu-fps and
// encoder-cpu-fps (per CPU-second), ratio (cpu-fps/encoder-cpu-fps),
// encoder-MB (peak resident memory of the encoder subprocess) and kgate-MB
// (of the whole test process, loopback KVS included, over all runs so far;
// `kgate stream` logs its own as max_rss_kb).
func BenchmarkTestPattern(b *testing.B) {
	const frames = 300
	for _, size := range []struct {
		name string
		w, h int
	}{{"720p", 1280, 720}, {"1080p", 1920, 1080}} {
		for _, tool := range []string{ToolGStreamer, ToolFFmpeg} {
			b.Run(size.name+"/"+tool, func(b *testing.B) {
				src := Source{Kind: InputTestPattern, Width: size.w, Height: size.h, FPS: 30, Frames: frames}
				needEncoder(b, tool, src)
				eo := EncoderOptions{Tool: tool, Bitrate: 2000, Threads: 1}
				var base, full cost
				var encRSS int64
				for range b.N {
					base = base.best(measure(func() { encoderAlone(b, tool, src, eo) }))
					full = full.best(measure(func() { encRSS = max(encRSS, pipeline(b, src, eo)) }))
				}
				var self syscall.Rusage
				syscall.Getrusage(syscall.RUSAGE_SELF, &self)
				b.ReportMetric(frames/full.wall.Seconds(), "fps")
				b.ReportMetric(frames/base.wall.Seconds(), "encoder-fps")
				b.ReportMetric(frames/full.cpu.Seconds(), "cpu-fps")
				b.ReportMetric(frames/base.cpu.Seconds(), "encoder-cpu-fps")
				b.ReportMetric(base.cpu.Seconds()/full.cpu.Seconds(), "ratio")
				b.ReportMetric(float64(encRSS)/1024, "encoder-MB")
				b.ReportMetric(float64(self.Maxrss)/1024, "kgate-MB")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// cost is one run's wall-clock time and CPU time (this process and its
// waited-for children, user and system).
type cost struct{ wall, cpu time.Duration }

func (c cost) best(o cost) cost {
	if c.wall == 0 {
		return o
	}
	return cost{min(c.wall, o.wall), min(c.cpu, o.cpu)}
}

func cpuTime() time.Duration {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}

func measure(f func()) cost {
	c0, t0 := cpuTime(), time.Now()
	f()
	return cost{wall: time.Since(t0), cpu: cpuTime() - c0}
}

// encoderAlone runs the encoder command with its output discarded.
func encoderAlone(b *testing.B, tool string, src Source, eo EncoderOptions) {
	argv, err := encoderCommand(tool, src, eo)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		b.Fatal(err)
	}
}

// pipeline streams src through kgate into a Matroska file and the loopback
// KVS (rate limits lifted: this measures kgate, not the service).
func pipeline(b *testing.B, src Source, eo EncoderOptions) (encoderRSS int64) {
	fake := kvsfake.New(kvsfake.Options{Keys: []kvsfake.Key{{AccessKeyID: "AKIABENCH00000000001", SecretAccessKey: "bench"}}})
	defer fake.Close()
	fake.CreateStream("bench", 1)
	log := slog.New(slog.DiscardHandler)
	up, err := kvs.NewUploader(kvs.Config{
		Stream: kvs.StreamRef{Name: "bench"}, Region: "us-west-2",
		Credentials:  kvs.Refreshing(kvs.NewStaticProvider("AKIABENCH00000000001", "bench", "")),
		Endpoint:     func(context.Context) (string, error) { return fake.URL, nil },
		FragmentRate: 1000, ByteRate: 1e10, Logger: log,
	})
	if err != nil {
		b.Fatal(err)
	}
	sink := Tee(NewMKVFile(filepath.Join(b.TempDir(), "bench.mkv"), MuxerOptions{}, log, nil), NewKVSSink(up, MuxerOptions{}, log, nil))
	res, err := Run(context.Background(), Options{Source: src, Encoder: eo, Limit: src.Frames, Logger: log}, sink)
	if err != nil {
		b.Fatal(err)
	}
	if res.Frames != src.Frames {
		b.Fatalf("%d frames, want %d", res.Frames, src.Frames)
	}
	st, _ := fake.Stream("bench")
	if len(st.Fragments) == 0 {
		b.Fatal("nothing reached the loopback KVS")
	}
	return res.EncoderMaxRSS
}
