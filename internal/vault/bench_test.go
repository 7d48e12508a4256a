package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/media"
	"github.com/kgate/kgate/internal/media/mediatest"
	"github.com/kgate/kgate/internal/vault/vaulttest"
)

// BenchmarkColorsHandler1080p is the whole vault-colors handling of one
// 1080p recording: fetch through a loopback Vault blob endpoint (gzip, as
// Vault answers), decode the first frame with the ffmpeg subprocess,
// k-means, output record. The target is 250 ms or less. It reports the
// phases' means from the output records' timings, and as the baseline
// measured in the same run the bare fetch (the same request, no
// analysis), with the ratio of the whole to it.
//
//	go test -run '^$' -bench ColorsHandler1080p -benchtime 10x -cpu 1 ./internal/vault
func BenchmarkColorsHandler1080p(b *testing.B) {
	mediatest.RequireFFmpeg(b)
	dir := b.TempDir()
	clip := filepath.Join(dir, "rec.mp4")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", "testsrc=duration=3:size=1920x1080:rate=15", "-c:v", "libx264", "-pix_fmt", "yuv420p",
		"-profile:v", "baseline", "-g", "45", "-bf", "0", "-movflags", "+faststart", clip).CombinedOutput()
	if err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	data, err := os.ReadFile(clip)
	if err != nil {
		b.Fatal(err)
	}
	const key = "acc/1606164482_6-818812_cam_1-2-3-4_5_6.mp4"
	srv := vaulttest.New(b, "ak", "sk")
	srv.Put("gcp", key, data)
	src, err := NewBlobAPI(BlobAPIOptions{URL: srv.URL, AccessKey: "ak", SecretAccessKey: config.Secret("sk"),
		Fetch: FetchOptions{TempDir: dir}})
	if err != nil {
		b.Fatal(err)
	}
	h := &ColorsHandler{Source: src, Decoder: &media.FFmpeg{Threads: 1}}
	rec := &kgo.Record{Value: fmt.Appendf(nil, `{"date":1606164482,"source":"gcp","payload":{"key":%q}}`, key)}
	ev, _ := Parse(rec.Value)
	ctx := context.Background()

	var fetchOnly time.Duration
	for range 5 {
		t := time.Now()
		blob, err := src.Fetch(ctx, ev)
		if err != nil {
			b.Fatal(err)
		}
		fetchOnly += time.Since(t)
		blob.Close()
	}
	fetchOnly /= 5

	var sum Timings
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		outs, err := h.Handle(ctx, rec)
		if err != nil {
			b.Fatal(err)
		}
		var res ColorsResult
		if err := json.Unmarshal(outs[0].Value, &res); err != nil {
			b.Fatal(err)
		}
		sum.Fetch += res.TimingsMS.Fetch
		sum.Decode += res.TimingsMS.Decode
		sum.Colors += res.TimingsMS.Colors
	}
	per := time.Since(start) / time.Duration(b.N)
	cpu := (cpuTime() - cpu0) / time.Duration(b.N)
	n := float64(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "handle-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000, "handle-cpu-ms")
	b.ReportMetric(sum.Fetch/n, "fetch-ms")
	b.ReportMetric(sum.Decode/n, "decode-ms")
	b.ReportMetric(sum.Colors/n, "kmeans-ms")
	b.ReportMetric(float64(fetchOnly.Microseconds())/1000, "bare-fetch-ms")
	b.ReportMetric(float64(per)/float64(fetchOnly), "ratio")
}

// cpuTime is this process's and its children's CPU time (ffmpeg runs as
// a child).
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano())
}
