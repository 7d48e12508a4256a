package testutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every helper here follows one rule: a missing external program, module
// or plugin skips the test with a message naming it, unless
// KGATE_REQUIRE_INTEROP is set (as in CI), where it is a failure.

// RequireTool returns the path of an external program the test needs.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" is not installed")
	}
	return p
}

// RequirePython returns Debian's python3 after checking that it can import
// every module (python3-confluent-kafka, python3-kafka, ...).
func RequirePython(t testing.TB, modules ...string) string {
	t.Helper()
	const py = "/usr/bin/python3" // Debian's modules are not seen by pyenv's python3
	if _, err := os.Stat(py); err != nil {
		Missing(t, py+" is not installed")
	}
	for _, m := range modules {
		if out, err := exec.Command(py, "-c", "import "+m).CombinedOutput(); err != nil {
			Missing(t, "python module "+m+" is not importable: "+string(out))
		}
	}
	return py
}

// RequireGStreamer checks that gst-launch-1.0 is installed with every
// GStreamer element named (gst-inspect-1.0 --exists, which honours
// GST_PLUGIN_SYSTEM_PATH and GST_PLUGIN_PATH like gst-launch-1.0 does).
// The message of a missing element names it and the Debian package that
// ships it.
func RequireGStreamer(t testing.TB, elements ...string) {
	t.Helper()
	RequireTool(t, "gst-launch-1.0")
	inspect := RequireTool(t, "gst-inspect-1.0")
	for _, e := range elements {
		// The first run after a plugin change rebuilds the registry.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, inspect, "--exists", e).CombinedOutput()
		cancel()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit) && exit.ExitCode() == 1:
			Missing(t, fmt.Sprintf("GStreamer element %s is not installed (plugin package %s; check with gst-inspect-1.0 %s)", e, gstPackage(e), e))
		default:
			t.Fatalf("gst-inspect-1.0 --exists %s: %v\n%s", e, err, out)
		}
	}
}

// gstPackages maps the elements kgate's pipelines and tests use to the
// Debian packages that ship them.
var gstPackages = map[string][]string{
	"libgstreamer1.0-0":         {"capsfilter", "fdsink", "fdsrc", "filesrc", "queue"},
	"gstreamer1.0-plugins-base": {"decodebin", "rawvideoparse", "uridecodebin", "videoconvert", "videorate", "videoscale", "videotestsrc"},
	"gstreamer1.0-plugins-good": {"matroskamux", "qtdemux", "rtph264depay", "rtph264pay", "rtspsrc", "souphttpsrc"},
	"gstreamer1.0-plugins-bad":  {"h264parse"},
	"gstreamer1.0-plugins-ugly": {"x264enc"},
	"gstreamer1.0-libav":        {"avdec_h264"},
}

func gstPackage(element string) string {
	for pkg, elems := range gstPackages {
		if slices.Contains(elems, element) {
			return pkg
		}
	}
	return "unknown"
}

// RequireFFmpeg returns the path of ffmpeg after checking that it has every
// encoder named (ffmpeg -encoders), such as libx264, which some builds
// leave out.
func RequireFFmpeg(t testing.TB, encoders ...string) string {
	t.Helper()
	p := RequireTool(t, "ffmpeg")
	if len(encoders) == 0 {
		return p
	}
	out, err := exec.Command(p, "-hide_banner", "-encoders").Output()
	if err != nil {
		t.Fatalf("ffmpeg -encoders: %v", err)
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		// " V....D libx264   libx264 H.264 / ...": flags, then the name.
		if f := strings.Fields(line); len(f) >= 2 {
			have[f[1]] = true
		}
	}
	for _, e := range encoders {
		if !have[e] {
			Missing(t, "ffmpeg has no "+e+" encoder (ffmpeg -encoders)")
		}
	}
	return p
}

// Missing skips the test because of why (a program, module or plugin it
// needs is not there), or fails it when KGATE_REQUIRE_INTEROP is set. The
// Require helpers call it; a test with its own probe can too.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("KGATE_REQUIRE_INTEROP") != "" {
		t.Fatalf("%s (KGATE_REQUIRE_INTEROP is set)", why)
	}
	t.Skip(why)
}
