package media

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/media/mediatest"
)

var (
	clip1080Once sync.Once
	clip1080     string
)

// testClip1080 makes a 3-second 1080p H.264 test pattern (moov at the
// start), like a camera recording, once per test binary.
func testClip1080(b *testing.B) string {
	b.Helper()
	mediatest.RequireFFmpeg(b)
	clip1080Once.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			b.Fatal(err)
		}
		p := filepath.Join(dir, "test1080.mp4")
		out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
			"-i", "testsrc=duration=3:size=1920x1080:rate=15", "-c:v", "libx264", "-pix_fmt", "yuv420p",
			"-profile:v", "baseline", "-g", "45", "-bf", "0", "-movflags", "+faststart", p).CombinedOutput()
		if err != nil {
			b.Fatalf("making the 1080p clip: %v\n%s", err, out)
		}
		clip1080 = p
	})
	return clip1080
}

// BenchmarkDecode1080p decodes the first frame of a 1080p recording with
// the ffmpeg subprocess, one thread. It reports the decode time and, as
// the baseline measured in the same run, the cost of merely starting
// ffmpeg (ffmpeg -version), with their ratio.
//
//	go test -run '^$' -bench Decode1080p -benchtime 20x ./internal/media
func BenchmarkDecode1080p(b *testing.B) {
	path := testClip1080(b)
	dec := &FFmpeg{Threads: 1}
	ctx := context.Background()
	var floor time.Duration
	for range 5 {
		t := time.Now()
		if err := exec.Command("ffmpeg", "-version").Run(); err != nil {
			b.Fatal(err)
		}
		floor += time.Since(t)
	}
	floor /= 5
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(syscall.RUSAGE_CHILDREN)
	for i := 0; i < b.N; i++ {
		f, err := dec.Frame(ctx, path, 0)
		if err != nil {
			b.Fatal(err)
		}
		if f.Width != 1920 || f.Height != 1080 {
			b.Fatalf("frame %dx%d", f.Width, f.Height)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	cpu := (cpuTime(syscall.RUSAGE_CHILDREN) - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "decode-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000, "ffmpeg-cpu-ms")
	b.ReportMetric(float64(floor.Microseconds())/1000, "ffmpeg-start-ms")
	b.ReportMetric(float64(per)/float64(floor), "ratio")
}

// BenchmarkColors1080p runs the k-means colour analysis on a decoded
// 1080p frame. Run it on one core (-cpu 1); the target is 60 ms or less.
// The baseline, measured in the same run, is one plain pass over the
// frame's pixels (their mean colour).
//
//	go test -run '^$' -bench Colors1080p -cpu 1 ./internal/media
func BenchmarkColors1080p(b *testing.B) {
	f, err := (&FFmpeg{Threads: 1}).Frame(context.Background(), testClip1080(b), 0)
	if err != nil {
		b.Fatal(err)
	}
	var pass time.Duration
	for range 5 {
		t := time.Now()
		var s [3]uint64
		for i := 0; i < len(f.Pix); i += 3 {
			s[0] += uint64(f.Pix[i])
			s[1] += uint64(f.Pix[i+1])
			s[2] += uint64(f.Pix[i+2])
		}
		pass += time.Since(t)
		if s[0] == 0 && s[1] == 0 && s[2] == 0 {
			b.Fatal("black frame")
		}
	}
	pass /= 5
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(syscall.RUSAGE_SELF)
	for i := 0; i < b.N; i++ {
		cs, err := DominantColors(f, ColorOptions{})
		if err != nil || len(cs) != 3 {
			b.Fatalf("%v %v", cs, err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	cpu := (cpuTime(syscall.RUSAGE_SELF) - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "kmeans-ms")
	// CPU time per op: on a busy machine the wall time also counts
	// waiting for a core.
	b.ReportMetric(float64(cpu.Microseconds())/1000, "kmeans-cpu-ms")
	b.ReportMetric(float64(pass.Microseconds())/1000, "pixel-pass-ms")
	b.ReportMetric(float64(per)/float64(pass), "ratio")
}

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "kgate-bench-") }

// cpuTime is the CPU time (user+system) of this process or of its
// waited-for children.
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
