package stream

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kgate/kgate/internal/config"
)

// HLSOptions configure an HLS sink.
type HLSOptions struct {
	// SegmentDuration is the target: a segment ends at the first keyframe
	// after this long (config's stream.hls.segment_duration when zero).
	SegmentDuration time.Duration
	// PlaylistSize keeps only the last N segments in the playlist and
	// deletes older files (a live window). 0 keeps every segment (an EVENT
	// playlist, complete when the stream ends).
	PlaylistSize int
	// Playlist is the playlist's file name (default index.m3u8).
	Playlist string
}

// HLS is a Sink writing an HLS stream to a directory: MPEG-TS segments cut
// at keyframes and a playlist rewritten atomically after each one. Not safe
// for concurrent use.
type HLS struct {
	dir  string
	opts HLSOptions
	log  *slog.Logger
	m    *Metrics

	track    Track
	seq      int // number of the next segment
	segs     []hlsSegment
	maxDur   time.Duration
	cur      *os.File
	curW     *bufio.Writer
	curTS    *tsWriter
	curName  string
	curStart time.Duration
	curEnd   time.Duration
	buf      []byte
	began    bool
	frames   int
}

type hlsSegment struct {
	name string
	dur  time.Duration
}

// NewHLS returns a sink writing into dir (created if missing).
func NewHLS(dir string, opts HLSOptions, log *slog.Logger, m *Metrics) *HLS {
	if opts.SegmentDuration <= 0 {
		opts.SegmentDuration = config.DefaultStream().HLS.SegmentDuration.D()
	}
	if opts.Playlist == "" {
		opts.Playlist = "index.m3u8"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &HLS{dir: dir, opts: opts, log: log, m: m}
}

// PlaylistPath returns the playlist's path.
func (h *HLS) PlaylistPath() string { return filepath.Join(h.dir, h.opts.Playlist) }

// Begin implements Sink.
func (h *HLS) Begin(_ context.Context, t Track) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("hls: %w", err)
	}
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return fmt.Errorf("hls: %w", err)
	}
	h.track, h.began = t, true
	h.log.Info("writing hls", "dir", h.dir, "playlist", h.opts.Playlist, "segment_duration", h.opts.SegmentDuration)
	return nil
}

// WriteFrame implements Sink.
func (h *HLS) WriteFrame(_ context.Context, f Frame) error {
	if h.cur == nil && !f.Key {
		return nil // a segment must start with a keyframe
	}
	if h.cur != nil && f.Key && f.PTS-h.curStart >= h.opts.SegmentDuration {
		if err := h.finishSegment(false); err != nil {
			return err
		}
	}
	if h.cur == nil {
		if err := h.openSegment(f.PTS); err != nil {
			return err
		}
	}
	h.buf = annexB(h.buf[:0], f, h.track.SPS, h.track.PPS)
	if err := h.curTS.pes(f.PTS, f.Key, h.buf); err != nil {
		return fmt.Errorf("hls: writing %s: %w", h.curName, err)
	}
	h.curEnd = f.PTS + f.Duration
	h.frames++
	return nil
}

func (h *HLS) openSegment(pts time.Duration) error {
	h.curName = fmt.Sprintf("segment%06d.ts", h.seq)
	f, err := os.Create(filepath.Join(h.dir, h.curName+".tmp"))
	if err != nil {
		return fmt.Errorf("hls: %w", err)
	}
	h.cur, h.curW = f, bufio.NewWriterSize(f, 128<<10)
	h.curTS = newTSWriter(h.curW)
	h.curStart = pts
	if err := h.curTS.tables(); err != nil {
		return fmt.Errorf("hls: writing %s: %w", h.curName, err)
	}
	return nil
}

// finishSegment completes the segment in progress and rewrites the
// playlist.
func (h *HLS) finishSegment(last bool) error {
	if h.cur == nil {
		if last {
			return h.writePlaylist(true)
		}
		return nil
	}
	f, name := h.cur, h.curName
	h.cur = nil
	err := h.curW.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(h.dir, name))
	}
	if err != nil {
		return fmt.Errorf("hls: finishing %s: %w", name, err)
	}
	dur := h.curEnd - h.curStart
	h.maxDur = max(h.maxDur, dur)
	h.segs = append(h.segs, hlsSegment{name: name, dur: dur})
	h.seq++
	h.m.Fragments.WithLabelValues("hls").Inc()
	if n := h.opts.PlaylistSize; n > 0 && len(h.segs) > n {
		for _, old := range h.segs[:len(h.segs)-n] {
			if err := os.Remove(filepath.Join(h.dir, old.name)); err != nil && !os.IsNotExist(err) {
				h.log.Warn("hls: removing an old segment failed", "segment", old.name, "err", err)
			}
		}
		h.segs = append([]hlsSegment(nil), h.segs[len(h.segs)-n:]...)
	}
	return h.writePlaylist(last)
}

func (h *HLS) writePlaylist(ended bool) error {
	var b strings.Builder
	target := int(math.Ceil(max(h.maxDur, h.opts.SegmentDuration).Seconds()))
	first := h.seq - len(h.segs)
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n", target, first)
	if h.opts.PlaylistSize == 0 {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:EVENT\n")
	}
	b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	for _, s := range h.segs {
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s\n", s.dur.Seconds(), s.name)
	}
	if ended {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	path := h.PlaylistPath()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("hls: writing the playlist: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("hls: writing the playlist: %w", err)
	}
	return nil
}

// Close implements Sink: it finishes the last segment and ends the
// playlist.
func (h *HLS) Close(context.Context) error {
	if !h.began {
		return nil
	}
	h.began = false
	err := h.finishSegment(true)
	h.log.Info("hls written", "dir", h.dir, "segments", h.seq, "frames", h.frames)
	return err
}
