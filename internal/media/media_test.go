package media

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/media/mediatest"
)

var threeBands = []mediatest.Band{
	{RGB: [3]uint8{200, 50, 50}, Height: 180}, // 50 %
	{RGB: [3]uint8{50, 160, 80}, Height: 120}, // 33.3 %
	{RGB: [3]uint8{40, 80, 200}, Height: 60},  // 16.7 %
}

// checkColors compares colours with bands: RGB within tol per channel,
// shares within 1 percentage point, in share order.
func checkColors(t *testing.T, got []Color, bands []mediatest.Band, tol int) {
	t.Helper()
	total := 0
	for _, b := range bands {
		total += b.Height
	}
	if len(got) != len(bands) {
		t.Fatalf("got %d colours %+v, want %d", len(got), got, len(bands))
	}
	for i, b := range bands {
		c := got[i]
		for j := range 3 {
			if d := int(c.RGB[j]) - int(b.RGB[j]); d < -tol || d > tol {
				t.Errorf("colour %d = %v (%s), want %v within %d", i, c.RGB, c.Hex, b.RGB, tol)
				break
			}
		}
		want := float64(b.Height) / float64(total)
		if math.Abs(c.Share-want) > 0.01 {
			t.Errorf("colour %d share = %.4f, want %.4f within 0.01", i, c.Share, want)
		}
		if c.Hex != fmt.Sprintf("#%02x%02x%02x", c.RGB[0], c.RGB[1], c.RGB[2]) {
			t.Errorf("colour %d hex %q does not match rgb %v", i, c.Hex, c.RGB)
		}
	}
}

func TestFFmpegColors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dec := &FFmpeg{Threads: 1}
	tests := []struct {
		name      string
		faststart bool
	}{
		{"moov-at-start", true},
		{"moov-at-end", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := mediatest.Make(t, dir, tt.name+".mp4", mediatest.Clip{Width: 640, Bands: threeBands, Faststart: tt.faststart})
			if got := mediatest.MoovAtStart(t, path); got != tt.faststart {
				t.Fatalf("test clip moov at start = %v, want %v", got, tt.faststart)
			}
			f, err := dec.Frame(t.Context(), path, 0)
			if err != nil {
				t.Fatal(err)
			}
			if f.Width != 640 || f.Height != 360 {
				t.Fatalf("frame %dx%d, want 640x360", f.Width, f.Height)
			}
			colors, err := DominantColors(f, ColorOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkColors(t, colors, threeBands, 6)
		})
	}
}

func TestFFmpegFrameAt(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	dir := t.TempDir()
	later := []mediatest.Band{
		{RGB: [3]uint8{240, 220, 40}, Height: 90},
		{RGB: [3]uint8{20, 20, 20}, Height: 270},
	}
	path := mediatest.Make(t, dir, "two.mp4", mediatest.Clip{Width: 320, Bands: threeBands, Then: later, Duration: time.Second})
	dec := &FFmpeg{Threads: 1}
	tests := []struct {
		at    time.Duration
		bands []mediatest.Band
	}{
		{0, threeBands},
		{1500 * time.Millisecond, []mediatest.Band{later[1], later[0]}}, // sorted by share
	}
	for _, tt := range tests {
		f, err := dec.Frame(t.Context(), path, tt.at)
		if err != nil {
			t.Fatalf("at %s: %v", tt.at, err)
		}
		colors, err := DominantColors(f, ColorOptions{K: len(tt.bands)})
		if err != nil {
			t.Fatal(err)
		}
		checkColors(t, colors, tt.bands, 6)
	}
	if _, err := dec.Frame(t.Context(), path, time.Hour); !errors.Is(err, ErrNoFrame) {
		t.Errorf("frame past the end: err = %v, want ErrNoFrame", err)
	}
}

func TestFFmpegErrors(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mp4")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a video "), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	clip := mediatest.Make(t, dir, "ok.mp4", mediatest.Clip{Width: 320, Bands: threeBands})
	tests := []struct {
		name string
		dec  *FFmpeg
		path string
		want error // nil: any error
	}{
		{"garbage", &FFmpeg{}, garbage, nil},
		{"missing", &FFmpeg{}, filepath.Join(dir, "missing.mp4"), nil},
		{"too large", &FFmpeg{MaxPixels: 1000}, clip, ErrFrameTooLarge},
		{"no ffmpeg", &FFmpeg{Path: filepath.Join(dir, "no-such-ffmpeg")}, clip, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.dec.Frame(t.Context(), tt.path, 0)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// synthetic builds a frame of horizontal bands without ffmpeg.
func synthetic(w int, bands []mediatest.Band) *Frame {
	h := 0
	for _, b := range bands {
		h += b.Height
	}
	f := &Frame{Width: w, Height: h, Pix: make([]byte, 0, w*h*3)}
	for _, b := range bands {
		for range b.Height * w {
			f.Pix = append(f.Pix, b.RGB[0], b.RGB[1], b.RGB[2])
		}
	}
	return f
}

func TestDominantColors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame *Frame
		opts  ColorOptions
		want  []Color
	}{
		{
			name:  "three bands exact",
			frame: synthetic(100, threeBands),
			want: []Color{
				{RGB: [3]uint8{200, 50, 50}, Hex: "#c83232", Share: 0.5},
				{RGB: [3]uint8{50, 160, 80}, Hex: "#32a050", Share: 120.0 / 360},
				{RGB: [3]uint8{40, 80, 200}, Hex: "#2850c8", Share: 60.0 / 360},
			},
		},
		{
			name:  "fewer colours than k",
			frame: synthetic(10, []mediatest.Band{{RGB: [3]uint8{1, 2, 3}, Height: 4}}),
			opts:  ColorOptions{K: 5},
			want:  []Color{{RGB: [3]uint8{1, 2, 3}, Hex: "#010203", Share: 1}},
		},
		{
			name: "equal shares sort by hex",
			frame: synthetic(10, []mediatest.Band{
				{RGB: [3]uint8{255, 255, 255}, Height: 5},
				{RGB: [3]uint8{0, 0, 0}, Height: 5},
			}),
			opts: ColorOptions{K: 2},
			want: []Color{
				{RGB: [3]uint8{0, 0, 0}, Hex: "#000000", Share: 0.5},
				{RGB: [3]uint8{255, 255, 255}, Hex: "#ffffff", Share: 0.5},
			},
		},
		{
			name:  "one pixel",
			frame: &Frame{Width: 1, Height: 1, Pix: []byte{9, 8, 7}},
			want:  []Color{{RGB: [3]uint8{9, 8, 7}, Hex: "#090807", Share: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DominantColors(tt.frame, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].RGB != tt.want[i].RGB || got[i].Hex != tt.want[i].Hex || math.Abs(got[i].Share-tt.want[i].Share) > 1e-9 {
					t.Errorf("colour %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestDominantColorsDeterministic(t *testing.T) {
	t.Parallel()
	// A noisy gradient: many distinct colours, so initialisation
	// matters; the answer must still be the same every time.
	w, h := 320, 200
	f := &Frame{Width: w, Height: h, Pix: make([]byte, w*h*3)}
	for i := 0; i < w*h; i++ {
		x, y := i%w, i/w
		f.Pix[3*i] = uint8(x * 255 / w)
		f.Pix[3*i+1] = uint8(y * 255 / h)
		f.Pix[3*i+2] = uint8((x*7 + y*13) % 256)
	}
	first, err := DominantColors(f, ColorOptions{K: 4, SampleSize: 5000})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, _ := DominantColors(f, ColorOptions{K: 4, SampleSize: 5000})
		if fmt.Sprint(again) != fmt.Sprint(first) {
			t.Fatalf("not deterministic:\n%v\n%v", first, again)
		}
	}
	var sum float64
	for i, c := range first {
		sum += c.Share
		if i > 0 && c.Share > first[i-1].Share {
			t.Errorf("not sorted by share: %v", first)
		}
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("shares add up to %v", sum)
	}
}

func TestDominantColorsErrors(t *testing.T) {
	t.Parallel()
	if _, err := DominantColors(&Frame{Width: 2, Height: 2, Pix: []byte{1, 2, 3}}, ColorOptions{}); !errors.Is(err, ErrNoFrame) {
		t.Errorf("short frame: err = %v", err)
	}
	if _, err := DominantColors(synthetic(2, threeBands), ColorOptions{K: MaxK + 1}); err == nil {
		t.Error("k too large: no error")
	}
}

func TestReadPPM(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		w, h    int
		wantErr bool
	}{
		{"plain", "P6\n2 1\n255\n" + "abcdef", 2, 1, false},
		{"comments", "P6 # made by\n# ffmpeg\n2\t1 255 " + "abcdef", 2, 1, false},
		{"empty", "", 0, 0, true},
		{"P3", "P3\n1 1\n255\n1 2 3", 0, 0, true},
		{"16-bit", "P6\n1 1\n65535\n123456", 0, 0, true},
		{"zero", "P6\n0 1\n255\n", 0, 0, true},
		{"too large", "P6\n100000 100000\n255\n", 0, 0, true},
		{"short", "P6\n2 2\n255\nabc", 0, 0, true},
		{"long number", "P6\n12345678901234 1\n255\n", 0, 0, true},
		{"junk", "P6\nx 1\n255\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ReadPPM(bufio.NewReader(bytes.NewReader([]byte(tt.in))), DefaultMaxPixels)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (f.Width != tt.w || f.Height != tt.h) {
				t.Fatalf("size %dx%d, want %dx%d", f.Width, f.Height, tt.w, tt.h)
			}
		})
	}
}

func FuzzReadPPMHeader(f *testing.F) {
	f.Add([]byte("P6\n1920 1080\n255\n"))
	f.Add([]byte("P6 #c\n1 1 255 "))
	f.Add([]byte("P6\n99999999999 1\n255\n"))
	f.Add([]byte("P5\n1 1\n255\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, h, err := ReadPPMHeader(bufio.NewReader(bytes.NewReader(b)), 1<<20)
		if err != nil {
			return
		}
		if w < 1 || h < 1 || w*h > 1<<20 {
			t.Fatalf("accepted %dx%d", w, h)
		}
	})
}
