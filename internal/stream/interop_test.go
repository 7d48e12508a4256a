package stream

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// needTools skips the test when a tool is missing, unless
// KGATE_REQUIRE_INTEROP=1 (CI), where a missing tool fails it.
func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("KGATE_REQUIRE_INTEROP") == "1" {
				t.Fatalf("%s is required (KGATE_REQUIRE_INTEROP=1) but not installed", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	if contains(tools, "gst-launch-1.0") && !gstAvailable() {
		if os.Getenv("KGATE_REQUIRE_INTEROP") == "1" {
			t.Fatal("x264enc is required (KGATE_REQUIRE_INTEROP=1) but not installed")
		}
		t.Skip("x264enc not installed")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

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
