package stream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
)

// MKVFile is a Sink writing a Matroska file, one Cluster per fragment.
// When the file is seekable it also gets a SeekHead, Cues (one entry per
// cluster), the total Duration and the Segment size, so players can seek;
// otherwise (a pipe) it is written as a stream. Not safe for concurrent
// use.
type MKVFile struct {
	path string
	opts MuxerOptions
	log  *slog.Logger
	m    *Metrics

	f        *os.File
	w        *bufio.Writer
	mux      *Muxer
	seekable bool
	pos      int64 // bytes written so far
	cuesPos  int64
	layout   fileLayout
	cues     []webm.CuePoint
	end      time.Duration
	frames   int
	clusters int
}

// NewMKVFile returns a sink writing path ("-" is not supported: use a
// path such as /dev/stdout). The file is created (or truncated) by Begin.
func NewMKVFile(path string, opts MuxerOptions, log *slog.Logger, m *Metrics) *MKVFile {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	opts.Absolute = false
	return &MKVFile{path: path, opts: opts, log: log, m: m, mux: NewMuxer(opts)}
}

// fileLayout records where the patchable fields of a seekable file are.
type fileLayout struct {
	segSizeOff  int64 // the Segment's 8-byte size
	segData     int64 // the Segment's first child
	durationOff int64 // Info.Duration's 8-byte float
	cuesPosOff  int64 // the Cues SeekPosition's 8-byte value
}

type seekEntry struct {
	SeekID       []byte `ebml:"SeekID"`
	SeekPosition uint64 `ebml:"SeekPosition,size=8"`
}

type fileInfo struct {
	TimecodeScale uint64    `ebml:"TimecodeScale"`
	MuxingApp     string    `ebml:"MuxingApp"`
	WritingApp    string    `ebml:"WritingApp"`
	DateUTC       time.Time `ebml:"DateUTC,omitempty"`
	Duration      float64   `ebml:"Duration"`
}

type fileHeader struct {
	Header  webm.EBMLHeader `ebml:"EBML"`
	Segment struct {
		SeekHead struct {
			Seek []seekEntry `ebml:"Seek"`
		} `ebml:"SeekHead"`
		Info   fileInfo    `ebml:"Info"`
		Tracks webm.Tracks `ebml:"Tracks"`
	} `ebml:"Segment,size=unknown"`
}

var (
	idInfo   = []byte{0x15, 0x49, 0xA9, 0x66}
	idTracks = []byte{0x16, 0x54, 0xAE, 0x6B}
	idCues   = []byte{0x1C, 0x53, 0xBB, 0x6B}
)

// seekableHeader marshals the file header twice: once to learn where the
// elements land, once with the SeekHead pointing at them.
func (s *MKVFile) seekableHeader(t Track) ([]byte, fileLayout, error) {
	te, err := s.mux.trackEntry()
	if err != nil {
		return nil, fileLayout{}, err
	}
	var h fileHeader
	h.Header = ebmlHeader
	h.Segment.SeekHead.Seek = []seekEntry{{SeekID: idInfo}, {SeekID: idTracks}, {SeekID: idCues}}
	h.Segment.Info = fileInfo{TimecodeScale: 1000000, MuxingApp: muxingApp, WritingApp: muxingApp, DateUTC: t.Start.UTC(), Duration: 1}
	h.Segment.Tracks.TrackEntry = []webm.TrackEntry{te}
	var lay fileLayout
	elems := map[string][]*ebml.Element{}
	hook := func(e *ebml.Element) { elems[e.Name] = append(elems[e.Name], e) }
	var b bytes.Buffer
	if err := ebml.Marshal(&h, &b, ebml.WithElementWriteHooks(hook)); err != nil {
		return nil, lay, err
	}
	pos := func(name string, i int) (int64, error) {
		if len(elems[name]) <= i {
			return 0, fmt.Errorf("matroska layout: %s not written", name)
		}
		return elementOffset(elems[name][i]), nil
	}
	var offs [7]int64
	for i, e := range []struct {
		name string
		i    int
	}{{"Segment", 0}, {"SeekHead", 0}, {"Info", 0}, {"Tracks", 0}, {"Duration", 0}, {"SeekPosition", 2}} {
		var err error
		if offs[i], err = pos(e.name, e.i); err != nil {
			return nil, lay, err
		}
	}
	segData := offs[1]
	h.Segment.SeekHead.Seek[0].SeekPosition = uint64(offs[2] - segData)
	h.Segment.SeekHead.Seek[1].SeekPosition = uint64(offs[3] - segData)
	b.Reset()
	if err := ebml.Marshal(&h, &b); err != nil {
		return nil, lay, err
	}
	lay = fileLayout{
		segSizeOff:  offs[0] + 4,
		segData:     segData,
		durationOff: offs[4] + 3, // 2-byte id, 1-byte size
		cuesPosOff:  offs[5] + 3,
	}
	return b.Bytes(), lay, nil
}

// elementOffset returns where e starts in the output. ebml-go's hooks
// report children of known-size elements without their ancestors' size
// fields (a parent's size is written after its content is buffered), so
// those lengths are added back.
func elementOffset(e *ebml.Element) int64 {
	off := int64(e.Position)
	for p := e.Parent; p != nil; p = p.Parent {
		if p.Size != ebml.SizeUnknown {
			off += int64(vintLen(p.Size))
		}
	}
	return off
}

// vintLen is the length of ebml-go's encoding of a data size.
func vintLen(v uint64) int {
	n := 1
	for v >= 1<<(7*n)-1 && n < 8 {
		n++
	}
	return n
}

// Begin implements Sink: it creates the file and writes the header.
func (s *MKVFile) Begin(_ context.Context, t Track) error {
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("creating %s: %w", s.path, err)
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 256<<10)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		if _, err := f.Seek(0, io.SeekCurrent); err == nil {
			s.seekable = true
		}
	}
	stream, err := s.mux.Header(t) // also validates and records the track
	if err != nil {
		f.Close()
		return err
	}
	hdr := stream
	if s.seekable {
		if hdr, s.layout, err = s.seekableHeader(t); err != nil {
			f.Close()
			return fmt.Errorf("matroska header: %w", err)
		}
	}
	if err := s.write(hdr); err != nil {
		f.Close()
		return err
	}
	s.log.Info("writing matroska file", "path", s.path, "seekable", s.seekable, "width", t.Width, "height", t.Height, "fps", t.FPS)
	return nil
}

func (s *MKVFile) write(b []byte) error {
	n, err := s.w.Write(b)
	s.pos += int64(n)
	if err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	return nil
}

// WriteFrame implements Sink.
func (s *MKVFile) WriteFrame(_ context.Context, f Frame) error {
	frag, err := s.mux.Write(f)
	if err != nil {
		return err
	}
	s.frames++
	return s.writeFragment(frag)
}

func (s *MKVFile) writeFragment(frag *MKVFragment) error {
	if frag == nil {
		return nil
	}
	if frag.Key {
		s.cues = append(s.cues, webm.CuePoint{CueTime: uint64(frag.Timecode),
			CueTrackPositions: []webm.CueTrackPosition{{CueTrack: 1, CueClusterPosition: uint64(s.pos - s.layout.segData)}}})
	} else {
		s.m.ForcedCuts.Inc()
	}
	s.end = frag.PTS + frag.Duration
	s.clusters++
	s.m.Fragments.WithLabelValues("mkv").Inc()
	return s.write(frag.Data)
}

// Close implements Sink: it writes the last cluster and, for a seekable
// file, the Cues, Duration and Segment size.
func (s *MKVFile) Close(context.Context) error {
	if s.f == nil {
		return nil
	}
	defer func() { s.f = nil }()
	frag, err := s.mux.Flush()
	if err == nil {
		err = s.writeFragment(frag)
	}
	if err == nil && s.seekable {
		err = s.finishSeekable()
	}
	if ferr := s.w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("writing %s: %w", s.path, ferr)
	}
	if s.seekable && err == nil {
		err = s.patch()
	}
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing %s: %w", s.path, cerr)
	}
	s.log.Info("matroska file written", "path", s.path, "frames", s.frames, "clusters", s.clusters, "duration", s.end, "bytes", s.pos,
		"skipped_before_keyframe", s.mux.Skipped())
	return err
}

func (s *MKVFile) finishSeekable() error {
	if len(s.cues) == 0 {
		return nil
	}
	s.cuesPos = s.pos
	var c struct {
		Cues webm.Cues `ebml:"Cues"`
	}
	c.Cues.CuePoint = s.cues
	var b bytes.Buffer
	if err := ebml.Marshal(&c, &b); err != nil {
		return fmt.Errorf("marshalling cues: %w", err)
	}
	return s.write(b.Bytes())
}

// patch fills in the Segment size, Duration and the Cues position.
func (s *MKVFile) patch() error {
	segSize := s.pos - s.layout.segData
	if segSize >= 1<<56-1 {
		return errors.New("matroska segment too large")
	}
	var size [8]byte
	binary.BigEndian.PutUint64(size[:], uint64(segSize))
	size[0] = 0x01 // 8-byte length marker
	var dur [8]byte
	binary.BigEndian.PutUint64(dur[:], math.Float64bits(float64(s.end.Milliseconds())))
	patches := []struct {
		off int64
		b   []byte
	}{{s.layout.segSizeOff, size[:]}, {s.layout.durationOff, dur[:]}}
	if s.cuesPos > 0 {
		var cp [8]byte
		binary.BigEndian.PutUint64(cp[:], uint64(s.cuesPos-s.layout.segData))
		patches = append(patches, struct {
			off int64
			b   []byte
		}{s.layout.cuesPosOff, cp[:]})
	}
	for _, p := range patches {
		if _, err := s.f.WriteAt(p.b, p.off); err != nil {
			return fmt.Errorf("finishing %s: %w", s.path, err)
		}
	}
	return nil
}
