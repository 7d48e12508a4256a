package stream

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kgate/kgate/internal/kvs"
	"github.com/kgate/kgate/internal/kvs/kvsfake"
	ktestutil "github.com/kgate/kgate/internal/testutil"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(t *testing.T) (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// fileSinks returns an MKV and an HLS sink under a temp dir.
func fileSinks(t *testing.T, log *slog.Logger, m *Metrics) (Sink, string, *HLS) {
	dir := t.TempDir()
	mkv := filepath.Join(dir, "out.mkv")
	hls := NewHLS(filepath.Join(dir, "hls"), HLSOptions{SegmentDuration: time.Second}, log, m)
	return Tee(NewMKVFile(mkv, MuxerOptions{}, log, m), hls), mkv, hls
}

func checkDecodes(t *testing.T, path string, frames, w, h int) {
	t.Helper()
	p := ffprobe(t, path)
	if p.Codec != "h264" || p.Width != w || p.Height != h || p.Frames != frames {
		t.Errorf("%s: ffprobe %+v, want h264 %dx%d with %d frames", filepath.Base(path), p, w, h, frames)
	}
	if !strings.Contains(p.Profile, "Baseline") {
		t.Errorf("%s: profile %q, want (Constrained) Baseline", filepath.Base(path), p.Profile)
	}
}

func TestRunTestPattern(t *testing.T) {
	for _, tool := range []string{ToolGStreamer, ToolFFmpeg} {
		t.Run(tool, func(t *testing.T) {
			src := Source{Kind: InputTestPattern, Width: 160, Height: 120, FPS: 15}
			needEncoder(t, tool, src)
			needFFprobe(t)
			log, _ := testLogger(t)
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			sink, mkv, hls := fileSinks(t, log, m)
			res, err := Run(t.Context(), Options{
				Source:  src,
				Encoder: EncoderOptions{Tool: tool, KeyIntMax: 15, Bitrate: 300},
				Limit:   30, Logger: log, Metrics: m,
			}, sink)
			if err != nil {
				t.Fatal(err)
			}
			if res.Frames != 30 || res.Width != 160 || res.Height != 120 || res.Tool != tool {
				t.Errorf("result %+v", res)
			}
			checkDecodes(t, mkv, 30, 160, 120)
			checkDecodes(t, hls.PlaylistPath(), 30, 160, 120)
			if got := testutil.ToFloat64(m.Frames); got != 30 {
				t.Errorf("frames metric %v", got)
			}
			if got := testutil.ToFloat64(m.Bitrate); got <= 0 {
				t.Errorf("bitrate metric %v", got)
			}
		})
	}
}

// makeClip writes an MP4 (with an audio track) of n frames at 10 fps.
func makeClip(t *testing.T, w, h, n int) string {
	t.Helper()
	ktestutil.RequireFFmpeg(t, "libx264", "aac")
	path := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size="+strconv.Itoa(w)+"x"+strconv.Itoa(h)+":rate=10",
		"-f", "lavfi", "-i", "sine", "-frames:v", strconv.Itoa(n), "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-y", path).CombinedOutput()
	if err != nil {
		t.Fatalf("making the clip: %v\n%s", err, out)
	}
	return path
}

// File and HTTP inputs: the frame rate and size are detected.
func TestRunFileAndURL(t *testing.T) {
	clip := makeClip(t, 192, 144, 20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, clip)
	}))
	defer srv.Close()
	for _, tool := range []string{ToolGStreamer, ToolFFmpeg} {
		for _, in := range []struct {
			kind    InputKind
			loc     string
			plugged []string
		}{{InputFile, clip, gstFileMP4}, {InputURL, srv.URL + "/clip.mp4", gstHTTPMP4}} {
			t.Run(tool+"/"+in.kind.String(), func(t *testing.T) {
				src := Source{Kind: in.kind, Location: in.loc}
				needEncoder(t, tool, src, in.plugged...)
				needFFprobe(t)
				log, _ := testLogger(t)
				sink, mkv, _ := fileSinks(t, log, nil)
				res, err := Run(t.Context(), Options{
					Source:  src,
					Encoder: EncoderOptions{Tool: tool},
					Logger:  log,
				}, sink)
				if err != nil {
					t.Fatal(err)
				}
				if res.FPS != 10 || res.Frames != 20 {
					t.Errorf("result %+v, want 20 frames at the detected 10 fps", res)
				}
				checkDecodes(t, mkv, 20, 192, 144)
			})
		}
	}
}

// An RTSP camera stand-in: GStreamer's RTSP server (through PyGObject) on
// loopback.
func TestRunRTSP(t *testing.T) {
	src := Source{Kind: InputURL, Location: "rtsp://127.0.0.1:1/test", FPS: 15}
	needEncoder(t, ToolGStreamer, src, gstRTSP...)
	ktestutil.RequireGStreamer(t, "videotestsrc", "x264enc", "rtph264pay") // the server's pipeline
	needFFprobe(t)
	if exec.Command(ktestutil.RequirePython(t, "gi"), "-c", "import gi; gi.require_version('GstRtspServer', '1.0')").Run() != nil {
		ktestutil.Missing(t, "gir1.2-gst-rtsp-server-1.0 is not installed (python3-gi cannot load GstRtspServer)")
	}
	srv := exec.Command("/usr/bin/python3", "testdata/rtsp_server.py")
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	var port string
	if _, err := fmt.Fscanln(out, &port); err != nil {
		t.Fatalf("rtsp server: %v", err)
	}
	log, _ := testLogger(t)
	sink, mkv, _ := fileSinks(t, log, nil)
	res, err := Run(t.Context(), Options{
		Source:  Source{Kind: InputURL, Location: "rtsp://127.0.0.1:" + port + "/test", FPS: 15},
		Encoder: EncoderOptions{Tool: ToolGStreamer},
		Limit:   15, Logger: log,
	}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if res.Frames != 15 {
		t.Errorf("%d frames", res.Frames)
	}
	checkDecodes(t, mkv, 15, 160, 120)
}

func TestRunRawStdin(t *testing.T) {
	for _, tool := range []string{ToolGStreamer, ToolFFmpeg} {
		for _, pf := range []PixelFormat{PixelI420, PixelBGR24} {
			t.Run(tool+"/"+pf.String(), func(t *testing.T) {
				const w, h, n = 98, 64, 12 // width not a multiple of 4
				needEncoder(t, tool, Source{Kind: InputRaw, Width: w, Height: h, FPS: 12, PixelFormat: pf})
				needFFprobe(t)
				var in bytes.Buffer
				for i := range n {
					in.Write(bytes.Repeat([]byte{byte(i * 20)}, pf.FrameSize(w, h)))
				}
				in.Write([]byte{1, 2, 3}) // a partial frame is dropped
				log, _ := testLogger(t)
				sink, mkv, _ := fileSinks(t, log, nil)
				res, err := Run(t.Context(), Options{
					Source:  Source{Kind: InputRaw, Width: w, Height: h, FPS: 12, PixelFormat: pf},
					Encoder: EncoderOptions{Tool: tool},
					Stdin:   &in, Logger: log,
				}, sink)
				if err != nil {
					t.Fatal(err)
				}
				if res.Frames != n {
					t.Errorf("%d frames", res.Frames)
				}
				checkDecodes(t, mkv, n, w, h)
			})
		}
	}
}

// The Go API: images in, frame rate measured from the write rate.
func TestWriterImages(t *testing.T) {
	needFFprobe(t)
	needEncoder(t, ToolAuto, Source{Kind: InputRaw, Width: 80, Height: 60})
	log, _ := testLogger(t)
	sink, mkv, _ := fileSinks(t, log, nil)
	w := NewWriter(t.Context(), sink, WriterOptions{DetectFrames: 5, Logger: log})
	for i := range 16 {
		var img image.Image
		if i%2 == 0 {
			rgba := image.NewRGBA(image.Rect(0, 0, 81, 60)) // odd width: trimmed to 80
			for x := range 81 {
				rgba.Set(x, i, color.RGBA{R: 255, A: 255})
			}
			img = rgba
		} else {
			img = image.NewNRGBA(image.Rect(0, 0, 80, 60))
		}
		if err := w.WriteImage(img); err != nil {
			t.Fatal(err)
		}
		time.Sleep(40 * time.Millisecond)
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	res := w.Result()
	if res.Frames != 16 || res.FPS < 10 || res.FPS > 30 {
		t.Errorf("result %+v, want 16 frames at about 25 fps", res)
	}
	checkDecodes(t, mkv, 16, 80, 60)
	if err := w.WriteImage(image.NewRGBA(image.Rect(0, 0, 80, 60))); err != ErrWriterClosed {
		t.Errorf("write after close: %v", err)
	}
}

func TestWriterYCbCrImages(t *testing.T) {
	needFFprobe(t)
	needEncoder(t, ToolFFmpeg, Source{Kind: InputRaw, Width: 64, Height: 48})
	log, _ := testLogger(t)
	sink, mkv, _ := fileSinks(t, log, nil)
	w := NewWriter(t.Context(), sink, WriterOptions{FPS: 5, Encoder: EncoderOptions{Tool: ToolFFmpeg}, Logger: log})
	for range 6 {
		img := image.NewYCbCr(image.Rect(0, 0, 64, 48), image.YCbCrSubsampleRatio420)
		if err := w.WriteImage(img.SubImage(image.Rect(0, 0, 64, 48))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkDecodes(t, mkv, 6, 64, 48)
}

func TestRunRealtime(t *testing.T) {
	src := Source{Kind: InputTestPattern, Width: 64, Height: 48, FPS: 20}
	needEncoder(t, ToolAuto, src)
	log, _ := testLogger(t)
	sink, _, _ := fileSinks(t, log, nil)
	start := time.Now()
	res, err := Run(t.Context(), Options{
		Source:   src,
		Limit:    11,
		Realtime: true, Logger: log,
	}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); res.Frames != 11 || el < 450*time.Millisecond {
		t.Errorf("%d frames in %s, want 11 paced over at least 0.5 s", res.Frames, el)
	}
}

func TestMeasureFPS(t *testing.T) {
	for _, tt := range []struct {
		n    int
		d    time.Duration
		want float64
		err  bool
	}{
		{10, 300 * time.Millisecond, 30, false},
		{10, 310 * time.Millisecond, 29, false},
		{10, 900 * time.Millisecond, 10, false},
		{3, 1300 * time.Millisecond, 1.54, false},
		{10, time.Millisecond, 0, true},
		{1, time.Second, 0, true},
	} {
		got, err := measureFPS(tt.n, tt.d)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("measureFPS(%d, %s) = %v, %v; want %v", tt.n, tt.d, got, err, tt.want)
		}
	}
}

// The whole pipeline into the loopback KVS: fragments with increasing
// timecodes, the avcC as codec private data, every frame once, and the
// stored stream decodes.
func TestRunToKVS(t *testing.T) {
	needEncoder(t, ToolGStreamer, Source{Kind: InputTestPattern, Width: 160, Height: 120, FPS: 15})
	needFFprobe(t)
	const ak, sk = "AKIASTREAMTEST000001", "streamTestSecret/0000000000000000000001"
	fake := kvsfake.New(kvsfake.Options{Keys: []kvsfake.Key{{AccessKeyID: ak, SecretAccessKey: sk}}, Logf: t.Logf})
	defer fake.Close()
	fake.CreateStream("cam", 2)
	log, logs := testLogger(t)
	reg := prometheus.NewRegistry()
	km := kvs.NewMetrics(reg)
	up, err := kvs.NewUploader(kvs.Config{
		Stream: kvs.StreamRef{Name: "cam"}, Region: "us-west-2",
		Credentials: kvs.Refreshing(kvs.NewStaticProvider(ak, sk, "")),
		Endpoint:    func(context.Context) (string, error) { return fake.URL, nil },
		Logger:      log, Metrics: km,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(reg)
	sink := NewKVSSink(up, MuxerOptions{}, log, m)
	start := time.Now()
	res, err := Run(t.Context(), Options{
		Source:  Source{Kind: InputTestPattern, Width: 160, Height: 120, FPS: 15},
		Encoder: EncoderOptions{Tool: ToolGStreamer, KeyIntMax: 15},
		Limit:   45, Logger: log, Metrics: m,
	}, sink)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := fake.Stream("cam")
	if len(st.Fragments) != 3 {
		t.Fatalf("%d fragments stored, want 3 (one per second)", len(st.Fragments))
	}
	frames := 0
	for i, f := range st.Fragments {
		if i > 0 && f.Timecode <= st.Fragments[i-1].Timecode {
			t.Errorf("timecodes do not increase: %d after %d", f.Timecode, st.Fragments[i-1].Timecode)
		}
		// Absolute timecodes: the first frame's wall-clock time plus its PTS
		// (not paced here, so up to the 3 s of video ahead of now).
		if abs := time.UnixMilli(int64(f.Timecode)); abs.Before(start.Add(-time.Second)) || abs.After(time.Now().Add(4*time.Second)) {
			t.Errorf("fragment timecode %s is not absolute wall-clock time", abs)
		}
		if !f.Blocks[0].Key {
			t.Errorf("fragment %d does not start with a keyframe", i)
		}
		tk := f.Header.Tracks[0]
		if tk.CodecPrivate[0] != 1 || tk.CodecPrivate[1] != 66 || tk.Width != 160 || tk.Height != 120 {
			t.Errorf("track %+v", tk)
		}
		frames += len(f.Blocks)
	}
	if frames != 45 || res.Frames != 45 {
		t.Errorf("%d frames stored, %d sent, want 45", frames, res.Frames)
	}
	if got := testutil.ToFloat64(km.FragmentsAcked.WithLabelValues("persisted")); got != 3 {
		t.Errorf("persisted metric %v", got)
	}
	// The stored fragments, with their header, decode.
	path := filepath.Join(t.TempDir(), "stored.mkv")
	os.WriteFile(path, rebuildMKV(t, st.Fragments), 0o644)
	checkDecodes(t, path, 45, 160, 120)
	if strings.Contains(logs.String(), sk) || strings.Contains(logs.String(), ak) {
		t.Error("a key appears in the log")
	}
}

// rebuildMKV writes what the fake stored back into a Matroska file.
func rebuildMKV(t *testing.T, frags []kvsfake.Fragment) []byte {
	t.Helper()
	tk := frags[0].Header.Tracks[0]
	var h struct {
		Header  webm.EBMLHeader `ebml:"EBML"`
		Segment struct {
			Info    webm.Info      `ebml:"Info"`
			Tracks  webm.Tracks    `ebml:"Tracks"`
			Cluster []webm.Cluster `ebml:"Cluster"`
		} `ebml:"Segment"`
	}
	h.Header = ebmlHeader
	h.Segment.Info.TimecodeScale = 1000000
	h.Segment.Tracks.TrackEntry = []webm.TrackEntry{{TrackNumber: 1, TrackUID: 1, TrackType: 1, CodecID: tk.CodecID, CodecPrivate: tk.CodecPrivate,
		DefaultDuration: tk.DefaultDuration, Video: &webm.Video{PixelWidth: tk.Width, PixelHeight: tk.Height}}}
	for _, f := range frags {
		c := webm.Cluster{Timecode: f.Timecode}
		for _, b := range f.Blocks {
			c.SimpleBlock = append(c.SimpleBlock, ebml.Block{TrackNumber: b.Track, Timecode: b.Timecode, Keyframe: b.Key, Data: [][]byte{b.Data}})
		}
		h.Segment.Cluster = append(h.Segment.Cluster, c)
	}
	var b bytes.Buffer
	if err := ebml.Marshal(&h, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
