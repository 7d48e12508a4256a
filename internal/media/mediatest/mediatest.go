// Package mediatest makes small test recordings with Debian's ffmpeg: H.264
// MP4s of horizontal colour bands whose colours and areas are known.
package mediatest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/testutil"
)

// Band is one horizontal stripe of a test picture.
type Band struct {
	RGB    [3]uint8
	Height int
}

// Clip describes a test recording.
type Clip struct {
	Width int
	Bands []Band // top to bottom; heights add up to the picture height
	// Duration is the clip length (default 1s) at 10 fps.
	Duration time.Duration
	// Faststart puts the index (moov) at the start of the file;
	// otherwise ffmpeg leaves it at the end.
	Faststart bool
	// Then, when set, is a second segment appended after the first with
	// other bands (to test decoding at a given time).
	Then []Band
}

// RequireFFmpeg returns the path of ffmpeg with the libx264 encoder Make
// uses; without it the test is skipped, or fails when
// KGATE_REQUIRE_INTEROP is set (testutil.RequireFFmpeg).
func RequireFFmpeg(t testing.TB) string {
	t.Helper()
	return testutil.RequireFFmpeg(t, "libx264")
}

// Make writes the clip as an H.264 MP4 (yuv420p) into dir and returns
// its path.
func Make(t testing.TB, dir, name string, c Clip) string {
	t.Helper()
	RequireFFmpeg(t)
	if c.Duration <= 0 {
		c.Duration = time.Second
	}
	path := filepath.Join(dir, name)
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}
	var filter strings.Builder
	in := 0
	segment := func(bands []Band) string {
		labels := ""
		for _, b := range bands {
			args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("color=c=0x%02X%02X%02X:s=%dx%d:r=10:d=%.3f",
				b.RGB[0], b.RGB[1], b.RGB[2], c.Width, b.Height, c.Duration.Seconds()))
			labels += fmt.Sprintf("[%d:v]", in)
			in++
		}
		out := fmt.Sprintf("[s%d]", in)
		if len(bands) == 1 {
			fmt.Fprintf(&filter, "%snull%s;", labels, out)
		} else {
			fmt.Fprintf(&filter, "%svstack=inputs=%d%s;", labels, len(bands), out)
		}
		return out
	}
	first := segment(c.Bands)
	final := first
	if len(c.Then) > 0 {
		second := segment(c.Then)
		final = "[v]"
		fmt.Fprintf(&filter, "%s%sconcat=n=2:v=1:a=0%s;", first, second, final)
	}
	f := strings.TrimSuffix(filter.String(), ";")
	args = append(args, "-filter_complex", f, "-map", final,
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "10", "-pix_fmt", "yuv420p", "-g", "10")
	if c.Faststart {
		args = append(args, "-movflags", "+faststart")
	}
	args = append(args, path)
	out, err := exec.Command("ffmpeg", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg making %s: %v\n%s", name, err, out)
	}
	return path
}

// MoovAtStart reports whether the MP4 at path has its moov box before its
// mdat box (a top-level box scan).
func MoovAtStart(t testing.TB, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off+8 <= len(b); {
		size := int(uint32(b[off])<<24 | uint32(b[off+1])<<16 | uint32(b[off+2])<<8 | uint32(b[off+3]))
		typ := string(b[off+4 : off+8])
		switch typ {
		case "moov":
			return true
		case "mdat":
			return false
		}
		if size < 8 {
			break
		}
		off += size
	}
	t.Fatalf("%s: no moov or mdat box found", path)
	return false
}
