package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hiddenChildEnv marks the run of TestRequireGStreamerChild that
// TestRequireGStreamerHiddenPlugin starts.
const hiddenChildEnv = "KGATE_TESTUTIL_GST_CHILD"

// With x264enc hidden (GST_PLUGIN_SYSTEM_PATH is a directory holding only
// the core and videotestsrc plugins), a test that needs it is skipped with
// a message naming it, and fails when KGATE_REQUIRE_INTEROP is set. The
// test runs itself (TestRequireGStreamerChild) in a child process to see
// the skip or failure from outside.
func TestRequireGStreamerHiddenPlugin(t *testing.T) {
	RequireGStreamer(t, "fdsink", "videotestsrc", "x264enc") // here they all are
	plugins := t.TempDir()
	for _, p := range []string{"coreelements", "videotestsrc"} {
		out, err := exec.Command("gst-inspect-1.0", p).Output()
		if err != nil {
			t.Fatalf("gst-inspect-1.0 %s: %v", p, err)
		}
		m := regexp.MustCompile(`(?m)^\s*Filename\s+(\S+)$`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("gst-inspect-1.0 %s names no file:\n%s", p, out)
		}
		if err := os.Symlink(string(m[1]), filepath.Join(plugins, filepath.Base(string(m[1])))); err != nil {
			t.Fatal(err)
		}
	}
	run := func(requireInterop string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRequireGStreamerChild$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), hiddenChildEnv+"=1", "KGATE_REQUIRE_INTEROP="+requireInterop,
			"GST_PLUGIN_SYSTEM_PATH="+plugins, "GST_PLUGIN_SYSTEM_PATH_1_0="+plugins,
			"GST_PLUGIN_PATH=", "GST_PLUGIN_PATH_1_0=",
			// A registry of its own: the user's cache is not rewritten.
			"GST_REGISTRY="+filepath.Join(plugins, "registry.bin"), "GST_REGISTRY_1_0="+filepath.Join(plugins, "registry.bin"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	const why = "GStreamer element x264enc is not installed (plugin package gstreamer1.0-plugins-ugly"

	out, err := run("")
	if err != nil || !strings.Contains(out, "--- SKIP: TestRequireGStreamerChild") || !strings.Contains(out, why) {
		t.Errorf("outside CI: %v, want a skip naming x264enc:\n%s", err, out)
	}
	out, err = run("1")
	if err == nil || !strings.Contains(out, "--- FAIL: TestRequireGStreamerChild") || !strings.Contains(out, why) {
		t.Errorf("with KGATE_REQUIRE_INTEROP=1: %v, want a failure naming x264enc:\n%s", err, out)
	}
}

func TestRequireGStreamerChild(t *testing.T) {
	if os.Getenv(hiddenChildEnv) == "" {
		t.Skip("run by TestRequireGStreamerHiddenPlugin")
	}
	RequireGStreamer(t, "fdsink", "videotestsrc", "x264enc")
	t.Error("RequireGStreamer returned although x264enc is hidden")
}

// An encoder ffmpeg does not have is reported as missing.
func TestRequireFFmpegEncoder(t *testing.T) {
	RequireFFmpeg(t, "libx264")
	var skipped bool
	t.Run("no such encoder", func(t *testing.T) {
		t.Setenv("KGATE_REQUIRE_INTEROP", "")
		defer func() { skipped = t.Skipped() }()
		RequireFFmpeg(t, "kgate-no-such-encoder")
		t.Error("RequireFFmpeg returned for an encoder ffmpeg lacks")
	})
	if !skipped {
		t.Error("a missing ffmpeg encoder did not skip")
	}
}
