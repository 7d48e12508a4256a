package stream

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/kvs/kvsfake"
)

type mkvRecorder struct {
	hdr      kvsfake.Header
	clusters []kvsfake.Cluster
}

func (r *mkvRecorder) Header(h kvsfake.Header) error { r.hdr = h; return nil }
func (r *mkvRecorder) ClusterStart(uint64) error     { return nil }
func (r *mkvRecorder) ClusterEnd(c kvsfake.Cluster) error {
	r.clusters = append(r.clusters, c)
	return nil
}

func parseMKV(t *testing.T, b []byte) *mkvRecorder {
	t.Helper()
	var r mkvRecorder
	if err := kvsfake.ParseMatroska(bytes.NewReader(b), &r); err != nil {
		t.Fatalf("parsing our own Matroska: %v", err)
	}
	return &r
}

func TestMuxerClusters(t *testing.T) {
	tr, frames := testFrames(t) // keyframes at 0, 10, 20; 15 fps
	tests := []struct {
		name     string
		opts     MuxerOptions
		sizes    []int
		keyStart []bool
	}{
		{"one second minimum", MuxerOptions{}, []int{20, 10}, []bool{true, true}},
		{"half second minimum", MuxerOptions{MinFragment: 500 * time.Millisecond}, []int{10, 10, 10}, []bool{true, true, true}},
		{"floor of 200 ms", MuxerOptions{MinFragment: time.Millisecond}, []int{10, 10, 10}, []bool{true, true, true}},
		{"forced cut at the maximum", MuxerOptions{MaxFragment: 500 * time.Millisecond}, []int{7, 7, 7, 7, 2}, []bool{true, false, false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, abs := range []bool{false, true} {
				tt.opts.Absolute = abs
				m := NewMuxer(tt.opts)
				hdr, err := m.Header(tr)
				if err != nil {
					t.Fatal(err)
				}
				stream := append([]byte(nil), hdr...)
				var frags []*MKVFragment
				for _, f := range frames {
					frag, err := m.Write(f)
					if err != nil {
						t.Fatal(err)
					}
					if frag != nil {
						frags = append(frags, frag)
					}
				}
				last, _ := m.Flush()
				frags = append(frags, last)
				if again, _ := m.Flush(); again != nil {
					t.Fatal("second Flush returned a cluster")
				}
				var sizes []int
				var keys []bool
				for _, f := range frags {
					sizes, keys = append(sizes, f.Frames), append(keys, f.Key)
					stream = append(stream, f.Data...)
					if f.Duration > tt.opts.MaxFragment && tt.opts.MaxFragment > 0 {
						t.Errorf("fragment of %s", f.Duration)
					}
				}
				if !equalInts(sizes, tt.sizes) {
					t.Fatalf("absolute=%v: cluster sizes %v, want %v", abs, sizes, tt.sizes)
				}
				for i := range keys {
					if keys[i] != tt.keyStart[i] {
						t.Fatalf("cluster keyframe starts %v, want %v", keys, tt.keyStart)
					}
				}
				r := parseMKV(t, stream)
				avcc, _ := tr.AVCC()
				if tk := r.hdr.Tracks[0]; tk.CodecID != "V_MPEG4/ISO/AVC" || !bytes.Equal(tk.CodecPrivate, avcc) || tk.Width != 160 || tk.Height != 120 ||
					tk.DefaultDuration != 66666667 {
					t.Errorf("track %+v", tk)
				}
				if len(r.clusters) != len(tt.sizes) {
					t.Fatalf("%d clusters parsed, want %d (no empty final cluster)", len(r.clusters), len(tt.sizes))
				}
				base := uint64(0)
				if abs {
					base = uint64(tr.Start.UnixMilli())
				}
				n := 0
				prev := uint64(0)
				for i, c := range r.clusters {
					if len(c.Blocks) == 0 {
						t.Fatalf("cluster %d is empty", i)
					}
					if want := base + uint64(frames[n].PTS.Milliseconds()); c.Timecode != want {
						t.Errorf("cluster %d timecode %d, want %d", i, c.Timecode, want)
					}
					if i > 0 && c.Timecode <= prev {
						t.Errorf("timecodes do not increase: %d after %d", c.Timecode, prev)
					}
					prev = c.Timecode
					for _, b := range c.Blocks {
						if b.Key != frames[n].Key || int64(c.Timecode)+int64(b.Timecode) != int64(base)+frames[n].PTS.Milliseconds() {
							t.Errorf("block %d: key %v timecode %d", n, b.Key, b.Timecode)
						}
						n++
					}
				}
				if n != len(frames) {
					t.Errorf("%d blocks, want %d", n, len(frames))
				}
			}
		})
	}
}

func TestMuxerSkipsUntilKeyframe(t *testing.T) {
	tr, frames := testFrames(t)
	m := NewMuxer(MuxerOptions{})
	if _, err := m.Header(tr); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames[1:] {
		if _, err := m.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if m.Skipped() != 9 {
		t.Errorf("skipped %d frames, want the 9 before the keyframe at 10", m.Skipped())
	}
}

func writeAll(t *testing.T, s Sink, tr Track, frames []Frame) {
	t.Helper()
	ctx := t.Context()
	if err := s.Begin(ctx, tr); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := s.WriteFrame(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMKVFile(t *testing.T) {
	tr, frames := testFrames(t)
	path := filepath.Join(t.TempDir(), "out.mkv")
	writeAll(t, NewMKVFile(path, MuxerOptions{MinFragment: 500 * time.Millisecond}, nil, nil), tr, frames)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := parseMKV(t, b)
	if len(r.clusters) != 3 {
		t.Errorf("%d clusters, want 3", len(r.clusters))
	}
	needFFprobe(t)
	p := ffprobe(t, path)
	if p.Codec != "h264" || p.Width != 160 || p.Height != 120 || p.Frames != 30 {
		t.Errorf("ffprobe: %+v, want h264 160x120 with 30 frames", p)
	}
	if p.Duration < 1.9 || p.Duration > 2.1 {
		t.Errorf("duration %.3f s, want 2 s (patched at close)", p.Duration)
	}
}

func TestMKVFileNotSeekable(t *testing.T) {
	needFFprobe(t)
	tr, frames := testFrames(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := make(chan []byte, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- nil
			return
		}
		defer f.Close()
		var b bytes.Buffer
		b.ReadFrom(f)
		got <- b.Bytes()
	}()
	writeAll(t, NewMKVFile(fifo, MuxerOptions{}, nil, nil), tr, frames)
	b := <-got
	r := parseMKV(t, b)
	if len(r.clusters) != 2 {
		t.Fatalf("%d clusters", len(r.clusters))
	}
	path := filepath.Join(dir, "copy.mkv")
	os.WriteFile(path, b, 0o644)
	if p := ffprobe(t, path); p.Frames != 30 || p.Codec != "h264" {
		t.Errorf("ffprobe: %+v", p)
	}
}

func TestHLS(t *testing.T) {
	tr, frames := testFrames(t)
	tests := []struct {
		name     string
		opts     HLSOptions
		files    int
		frames   int
		sequence string
		ended    bool
	}{
		{"event playlist", HLSOptions{SegmentDuration: 500 * time.Millisecond}, 3, 30, "#EXT-X-MEDIA-SEQUENCE:0", true},
		{"live window", HLSOptions{SegmentDuration: 500 * time.Millisecond, PlaylistSize: 2}, 2, 20, "#EXT-X-MEDIA-SEQUENCE:1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			h := NewHLS(dir, tt.opts, nil, nil)
			writeAll(t, h, tr, frames)
			segs, _ := filepath.Glob(filepath.Join(dir, "*.ts"))
			if len(segs) != tt.files {
				t.Errorf("%d segment files, want %d", len(segs), tt.files)
			}
			if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmp) > 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
			pl, err := os.ReadFile(h.PlaylistPath())
			if err != nil {
				t.Fatal(err)
			}
			s := string(pl)
			if !strings.Contains(s, tt.sequence) || strings.Count(s, "#EXTINF:") != tt.files || strings.Contains(s, "#EXT-X-ENDLIST") != tt.ended ||
				!strings.Contains(s, "#EXT-X-TARGETDURATION:1\n") {
				t.Errorf("playlist:\n%s", s)
			}
			for _, seg := range segs {
				b, _ := os.ReadFile(seg)
				if len(b)%188 != 0 || b[0] != 0x47 {
					t.Errorf("%s: %d bytes, not whole TS packets", seg, len(b))
				}
			}
			needFFprobe(t)
			p := ffprobe(t, h.PlaylistPath())
			if p.Codec != "h264" || p.Width != 160 || p.Height != 120 || p.Frames != tt.frames {
				t.Errorf("ffprobe: %+v, want h264 160x120 with %d frames", p, tt.frames)
			}
		})
	}
}

func TestTSCRC(t *testing.T) {
	// CRC-32/MPEG-2 check value.
	if got := crc32MPEG([]byte("123456789")); got != 0x0376E6E7 {
		t.Errorf("crc32MPEG = %08X, want 0376E6E7", got)
	}
}
