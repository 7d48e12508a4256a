package stream

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"

	"github.com/kgate/kgate/internal/config"
)

// Fragment limits. KVS takes at most 5 fragments per second and 10 s per
// fragment.
const (
	MinFragmentFloor = 200 * time.Millisecond
	MaxFragment      = 10 * time.Second
)

// MuxerOptions configure a Muxer.
type MuxerOptions struct {
	// Absolute makes cluster timecodes Unix milliseconds (Track.Start +
	// PTS), as KVS's ABSOLUTE fragment timecodes want; otherwise they count
	// from 0.
	Absolute bool
	// MinFragment: a new cluster starts at the first keyframe after this
	// long (config's stream.kvs.fragment_duration when zero; at least
	// 200 ms).
	MinFragment time.Duration
	// MaxFragment: a cluster never covers more (default and at most 10 s);
	// without a keyframe in time the cut falls on a non-keyframe.
	MaxFragment time.Duration
}

// MKVFragment is one Matroska Cluster.
type MKVFragment struct {
	// Timecode is the Cluster's Timecode in milliseconds.
	Timecode int64
	// PTS is the presentation time of its first frame.
	PTS      time.Duration
	Duration time.Duration
	Frames   int
	// Key says the fragment starts with a keyframe (false only after a
	// forced cut).
	Key bool
	// Data is the complete Cluster element (known size).
	Data []byte
}

// Muxer writes an H.264 track as Matroska with ebml-go: a header, then one
// Cluster per fragment, each starting at a keyframe. It marshals every
// Cluster as a complete element of known size, so it never emits the empty
// final Cluster ebml-go's BlockWriter appends on Close (which KVS would
// reject). It is not safe for concurrent use.
type Muxer struct {
	opts    MuxerOptions
	track   Track
	base    int64 // ms added to PTS for cluster timecodes
	cur     *webm.Cluster
	curPTS  time.Duration
	curEnd  time.Duration
	curKey  bool
	frames  int
	skipped int
	buf     []byte
}

// NewMuxer returns a Muxer.
func NewMuxer(opts MuxerOptions) *Muxer {
	if opts.MinFragment <= 0 {
		opts.MinFragment = config.DefaultStream().KVS.FragmentDuration.D()
	}
	opts.MinFragment = max(opts.MinFragment, MinFragmentFloor)
	if opts.MaxFragment <= 0 || opts.MaxFragment > MaxFragment {
		opts.MaxFragment = MaxFragment
	}
	opts.MinFragment = min(opts.MinFragment, opts.MaxFragment)
	return &Muxer{opts: opts}
}

// Skipped returns how many frames were dropped before the first keyframe.
func (m *Muxer) Skipped() int { return m.skipped }

// ebmlHeader is the EBML header of a Matroska stream (DocType matroska).
var ebmlHeader = webm.EBMLHeader{
	EBMLVersion: 1, EBMLReadVersion: 1, EBMLMaxIDLength: 4, EBMLMaxSizeLength: 8,
	DocType: "matroska", DocTypeVersion: 4, DocTypeReadVersion: 2,
}

const (
	codecAVC    = "V_MPEG4/ISO/AVC"
	muxingApp   = "kgate"
	timecodeSec = 1000 // cluster timecodes per second (TimecodeScale 1 ms)
)

func (m *Muxer) trackEntry() (webm.TrackEntry, error) {
	avcc, err := m.track.AVCC()
	if err != nil {
		return webm.TrackEntry{}, err
	}
	return webm.TrackEntry{
		Name: "video", TrackNumber: 1, TrackUID: 1, TrackType: 1,
		CodecID: codecAVC, CodecPrivate: avcc,
		DefaultDuration: uint64(math.Round(1e9 / m.track.FPS)),
		Video:           &webm.Video{PixelWidth: uint64(m.track.Width), PixelHeight: uint64(m.track.Height)},
	}, nil
}

// Header starts the stream: it returns the EBML header, the start of a
// Segment of unknown size, Info and Tracks. Clusters follow.
func (m *Muxer) Header(t Track) ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("matroska header: %w", err)
	}
	m.track = t
	if m.opts.Absolute {
		m.base = t.Start.UnixMilli()
	}
	te, err := m.trackEntry()
	if err != nil {
		return nil, err
	}
	var h struct {
		Header  webm.EBMLHeader `ebml:"EBML"`
		Segment struct {
			Info   webm.Info   `ebml:"Info"`
			Tracks webm.Tracks `ebml:"Tracks"`
		} `ebml:"Segment,size=unknown"`
	}
	h.Header = ebmlHeader
	h.Segment.Info = webm.Info{TimecodeScale: 1000000, MuxingApp: muxingApp, WritingApp: muxingApp}
	h.Segment.Tracks.TrackEntry = []webm.TrackEntry{te}
	var b bytes.Buffer
	if err := ebml.Marshal(&h, &b); err != nil {
		return nil, fmt.Errorf("marshalling the matroska header: %w", err)
	}
	return b.Bytes(), nil
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// Write adds a frame; when it starts a new cluster the previous one is
// returned complete.
func (m *Muxer) Write(f Frame) (*MKVFragment, error) {
	if m.cur == nil && !f.Key && m.frames == 0 {
		m.skipped++
		return nil, nil
	}
	var out *MKVFragment
	if m.cur != nil {
		span := f.PTS + f.Duration - m.curPTS
		if (f.Key && f.PTS-m.curPTS >= m.opts.MinFragment) || span > m.opts.MaxFragment {
			var err error
			if out, err = m.finish(); err != nil {
				return nil, err
			}
		}
	}
	if m.cur == nil {
		m.cur = &webm.Cluster{Timecode: uint64(m.base + ms(f.PTS))}
		m.curPTS, m.curKey = f.PTS, f.Key
	}
	rel := m.base + ms(f.PTS) - int64(m.cur.Timecode)
	if rel < 0 || rel > math.MaxInt16 {
		return nil, fmt.Errorf("frame at %s is %d ms from its cluster", f.PTS, rel)
	}
	m.buf = appendAVCC(m.buf[:0], f.NALUs)
	m.cur.SimpleBlock = append(m.cur.SimpleBlock, ebml.Block{
		TrackNumber: 1, Timecode: int16(rel), Keyframe: f.Key,
		Data: [][]byte{bytes.Clone(m.buf)},
	})
	m.curEnd = f.PTS + f.Duration
	m.frames++
	return out, nil
}

// Flush returns the cluster in progress, if any.
func (m *Muxer) Flush() (*MKVFragment, error) {
	if m.cur == nil {
		return nil, nil
	}
	return m.finish()
}

func (m *Muxer) finish() (*MKVFragment, error) {
	c := m.cur
	m.cur = nil
	var wrap struct {
		Cluster *webm.Cluster `ebml:"Cluster"`
	}
	wrap.Cluster = c
	var b bytes.Buffer
	if err := ebml.Marshal(&wrap, &b); err != nil {
		return nil, fmt.Errorf("marshalling a matroska cluster: %w", err)
	}
	return &MKVFragment{
		Timecode: int64(c.Timecode), PTS: m.curPTS, Duration: m.curEnd - m.curPTS,
		Frames: len(c.SimpleBlock), Key: m.curKey, Data: b.Bytes(),
	}, nil
}
