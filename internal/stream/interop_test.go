package stream

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"

	"github.com/kgate/kgate/internal/testutil"
)

// needFFprobe skips the test when ffprobe is missing, unless
// KGATE_REQUIRE_INTEROP is set (CI), where it fails (testutil's rule).
func needFFprobe(t testing.TB) { t.Helper(); testutil.RequireTool(t, "ffprobe") }

// needEncoder skips the test (or fails it in CI) unless tool can encode
// src: ffmpeg with libx264, or gst-launch-1.0 with every element of src's
// pipeline and the extra ones uridecodebin plugs for the test's input.
// Auto stands for the tool ResolveTool picks.
func needEncoder(t testing.TB, tool string, src Source, extra ...string) {
	t.Helper()
	switch tool {
	case ToolFFmpeg:
		testutil.RequireFFmpeg(t, "libx264")
	case ToolGStreamer:
		if src.FPS <= 0 {
			src.FPS = 25 // detected at run time; any rate names the same elements
		}
		elems, err := GStreamerElements(src, EncoderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		testutil.RequireGStreamer(t, append(elems, extra...)...)
	case ToolAuto:
		resolved, err := ResolveTool(ToolAuto)
		if err != nil {
			testutil.Missing(t, err.Error())
		}
		needEncoder(t, resolved, src, extra...)
	default:
		t.Fatalf("needEncoder: unknown tool %q", tool)
	}
}

// What uridecodebin plugs for the tests' H.264 MP4 clips and RTSP camera.
var (
	gstFileMP4 = []string{"filesrc", "qtdemux", "h264parse", "avdec_h264"}
	gstHTTPMP4 = []string{"souphttpsrc", "qtdemux", "h264parse", "avdec_h264"}
	gstRTSP    = []string{"rtspsrc", "rtph264depay", "h264parse", "avdec_h264"}
)

// probed is what ffprobe decodes from a file or playlist.
type probed struct {
	Codec    string
	Profile  string
	Width    int
	Height   int
	Frames   int
	Duration float64
}

// ffprobe decodes every frame of path's first video stream.
func ffprobe(t testing.TB, path string) probed {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,profile,width,height,nb_read_frames:format=duration", "-of", "json", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	var doc struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			Profile      string `json:"profile"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &doc); err != nil || len(doc.Streams) == 0 {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	s := doc.Streams[0]
	n, _ := strconv.Atoi(s.NbReadFrames)
	d, _ := strconv.ParseFloat(doc.Format.Duration, 64)
	return probed{Codec: s.CodecName, Profile: s.Profile, Width: s.Width, Height: s.Height, Frames: n, Duration: d}
}
