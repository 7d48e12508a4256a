package stream

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"
	"time"
)

// readAUs splits an Annex B stream into access units.
func readAUs(t testing.TB, r io.Reader) [][][]byte {
	t.Helper()
	nr := NewNALReader(r)
	var asm AUAssembler
	var aus [][][]byte
	for {
		nal, err := nr.Next()
		if errors.Is(err, io.EOF) {
			if au := asm.Flush(); au != nil {
				aus = append(aus, au)
			}
			return aus
		}
		if err != nil {
			t.Fatal(err)
		}
		if au := asm.Push(nal); au != nil {
			aus = append(aus, au)
		}
	}
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testFrames returns the 30 frames (15 fps, keyframe every 10) of
// testdata/clip160.h264 and its track.
func testFrames(t testing.TB) (Track, []Frame) {
	t.Helper()
	aus := readAUs(t, bytes.NewReader(testdata(t, "clip160.h264")))
	sps, pps := paramSets(aus[0])
	tr := Track{Width: 160, Height: 120, FPS: 15, SPS: sps, PPS: pps, Start: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	fr := &framer{fps: 15}
	var frames []Frame
	for i, au := range aus {
		frames = append(frames, Frame{NALUs: au, PTS: fr.pts(int64(i)), Duration: fr.pts(int64(i+1)) - fr.pts(int64(i)), Key: isKey(au)})
	}
	return tr, frames
}

func TestAccessUnits(t *testing.T) {
	tests := []struct {
		file     string
		frames   int
		keys     []int
		oneByte  bool
		maxSlice int
	}{
		{"clip160.h264", 30, []int{0, 10, 20}, false, 1},
		{"clip160.h264", 30, []int{0, 10, 20}, true, 1},
		{"noaud_slices.h264", 12, []int{0, 10}, false, 2}, // no delimiters, two slices per picture
		{"noaud_slices.h264", 12, []int{0, 10}, true, 2},
	}
	for _, tt := range tests {
		var r io.Reader = bytes.NewReader(testdata(t, tt.file))
		if tt.oneByte {
			r = iotest.OneByteReader(r)
		}
		aus := readAUs(t, r)
		if len(aus) != tt.frames {
			t.Fatalf("%s oneByte=%v: %d access units, want %d", tt.file, tt.oneByte, len(aus), tt.frames)
		}
		var keys []int
		for i, au := range aus {
			if isKey(au) {
				keys = append(keys, i)
			}
			slices := 0
			for _, nal := range au {
				if tp := nalType(nal); tp == nalSlice || tp == nalIDR {
					slices++
				}
			}
			if slices != tt.maxSlice {
				t.Errorf("%s: access unit %d has %d slices, want %d", tt.file, i, slices, tt.maxSlice)
			}
		}
		if !equalInts(keys, tt.keys) {
			t.Errorf("%s: keyframes at %v, want %v", tt.file, keys, tt.keys)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseSPS(t *testing.T) {
	tr, _ := testFrames(t)
	high, _ := hex.DecodeString("67640028acd940780227e5c044000003000400000300c83c60c658")
	tests := []struct {
		name          string
		sps           []byte
		w, h          int
		profile       byte
		chroma        uint
		avccExtension bool
	}{
		{"baseline 160x120", tr.SPS, 160, 120, 66, 1, false},
		{"high 1920x1080 cropped", high, 1920, 1080, 100, 1, true},
	}
	for _, tt := range tests {
		s, err := ParseSPS(tt.sps)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if s.Width != tt.w || s.Height != tt.h || s.ProfileIDC != tt.profile || s.ChromaFormatIDC != tt.chroma {
			t.Errorf("%s: got %+v", tt.name, s)
		}
		avcc, err := AVCDecoderConfig(tt.sps, tr.PPS)
		if err != nil {
			t.Fatal(err)
		}
		if avcc[0] != 1 || avcc[1] != tt.profile || avcc[4] != 0xFF || avcc[5] != 0xE1 {
			t.Errorf("%s: avcC header % x", tt.name, avcc[:6])
		}
		want := 6 + 2 + len(tt.sps) + 1 + 2 + len(tr.PPS)
		if tt.avccExtension {
			want += 4
		}
		if len(avcc) != want {
			t.Errorf("%s: avcC of %d bytes, want %d", tt.name, len(avcc), want)
		}
	}
	for _, bad := range [][]byte{nil, {0x67}, {0x68, 1, 2, 3}, {0x67, 66, 0, 30}, {0x67, 66, 0, 30, 0x00, 0x00}} {
		if _, err := ParseSPS(bad); !errors.Is(err, ErrInvalidH264) {
			t.Errorf("ParseSPS(% x) = %v, want ErrInvalidH264", bad, err)
		}
	}
}

func TestAVCC(t *testing.T) {
	got := appendAVCC(nil, [][]byte{{9, 0xF0}, {0x65, 1, 2}, {0x41, 3}})
	want := []byte{0, 0, 0, 3, 0x65, 1, 2, 0, 0, 0, 2, 0x41, 3}
	if !bytes.Equal(got, want) {
		t.Errorf("appendAVCC = % x, want % x (delimiter dropped)", got, want)
	}
}

func FuzzParseSPS(f *testing.F) {
	tr, _ := testFrames(f)
	high, _ := hex.DecodeString("67640028acd940780227e5c044000003000400000300c83c60c658")
	f.Add(tr.SPS)
	f.Add(high)
	f.Add([]byte{0x67, 100, 0, 40, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSPS(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidH264) {
				t.Fatalf("error %v is not ErrInvalidH264", err)
			}
			return
		}
		if s.Width <= 0 || s.Height <= 0 || s.Width > 16384 || s.Height > 32768 {
			t.Fatalf("implausible size %dx%d", s.Width, s.Height)
		}
		if _, err := AVCDecoderConfig(b, []byte{0x68, 0xCE}); err != nil {
			t.Fatalf("valid SPS, avcC failed: %v", err)
		}
	})
}

// FuzzAnnexB feeds arbitrary encoder output through the NAL reader and the
// access-unit assembler: no panics, every NAL unit non-empty and kept.
func FuzzAnnexB(f *testing.F) {
	f.Add(testdata(f, "noaud_slices.h264")[:2000])
	f.Add([]byte{0, 0, 0, 1, 9, 0xF0, 0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x9A})
	f.Add([]byte{0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		nr := NewNALReader(bytes.NewReader(b))
		var asm AUAssembler
		total := 0
		for {
			nal, err := nr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(nal) == 0 || nal[len(nal)-1] == 0 {
				t.Fatalf("empty or zero-terminated NAL unit % x", nal)
			}
			total += len(nal)
			for _, n := range asm.Push(nal) {
				if len(n) == 0 {
					t.Fatal("empty NAL in an access unit")
				}
			}
		}
		asm.Flush()
		if total > len(b) {
			t.Fatalf("%d NAL bytes from %d input bytes", total, len(b))
		}
	})
}
