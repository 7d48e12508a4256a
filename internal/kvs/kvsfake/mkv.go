package kvsfake

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Matroska element ids the reader knows.
const (
	idEBML          = 0x1A45DFA3
	idDocType       = 0x4282
	idSegment       = 0x18538067
	idSeekHead      = 0x114D9B74
	idInfo          = 0x1549A966
	idTimecodeScale = 0x2AD7B1
	idTracks        = 0x1654AE6B
	idTrackEntry    = 0xAE
	idTrackNumber   = 0xD7
	idTrackType     = 0x83
	idCodecID       = 0x86
	idCodecPrivate  = 0x63A2
	idDefaultDur    = 0x23E383
	idVideo         = 0xE0
	idPixelWidth    = 0xB0
	idPixelHeight   = 0xBA
	idCluster       = 0x1F43B675
	idTimecode      = 0xE7
	idSimpleBlock   = 0xA3
	idBlockGroup    = 0xA0
	idBlock         = 0xA1
	idRefBlock      = 0xFB
	idCues          = 0x1C53BB6B
	idTags          = 0x1254C367
	idChapters      = 0x1043A770
	idAttachments   = 0x1941A469
)

// Limits that keep a hostile stream from exhausting memory.
const (
	maxHeaderElement = 1 << 20
	maxClusterBytes  = 64 << 20
)

// ErrInvalidMatroska reports a stream the reader rejects (KVS answers
// ErrorId 4006).
var ErrInvalidMatroska = errors.New("invalid Matroska stream")

// TrackInfo is one TrackEntry of a stream header.
type TrackInfo struct {
	Number          uint64
	Type            uint64
	CodecID         string
	CodecPrivate    []byte
	DefaultDuration uint64
	Width, Height   uint64
}

// Header is a stream's EBML header, Info and Tracks.
type Header struct {
	DocType       string
	TimecodeScale uint64
	Tracks        []TrackInfo
}

// Block is one SimpleBlock (or Block) of a cluster.
type Block struct {
	Track    uint64
	Timecode int16 // relative to the cluster
	Key      bool
	Data     []byte
}

// Cluster is one complete cluster.
type Cluster struct {
	Timecode uint64
	Blocks   []Block
	Bytes    int64
}

// Handler receives what ParseMatroska reads, as soon as it is read.
type Handler interface {
	// Header is called once, when Tracks has been read.
	Header(Header) error
	// ClusterStart is called when a cluster's Timecode has been read.
	ClusterStart(timecode uint64) error
	// ClusterEnd is called when a cluster is complete.
	ClusterEnd(Cluster) error
}

type ebmlReader struct {
	r   *bufio.Reader
	pos int64
}

func (e *ebmlReader) byte() (byte, error) {
	b, err := e.r.ReadByte()
	if err == nil {
		e.pos++
	}
	return b, err
}

// vint reads an EBML variable-length integer of at most maxLen bytes. With
// marker, the length marker stays in the value (element ids).
func (e *ebmlReader) vint(maxLen int, marker bool) (v uint64, unknown bool, err error) {
	b0, err := e.byte()
	if err != nil {
		return 0, false, err
	}
	if b0 == 0 {
		return 0, false, fmt.Errorf("%w: invalid variable-length integer at %d", ErrInvalidMatroska, e.pos-1)
	}
	l := bits.LeadingZeros8(b0) + 1
	if l > maxLen {
		return 0, false, fmt.Errorf("%w: variable-length integer of %d bytes at %d", ErrInvalidMatroska, l, e.pos-1)
	}
	v = uint64(b0)
	if !marker {
		v &= uint64(0xFF >> l)
	}
	for i := 1; i < l; i++ {
		b, err := e.byte()
		if err != nil {
			return 0, false, unexpected(err)
		}
		v = v<<8 | uint64(b)
	}
	if !marker && v == 1<<(7*l)-1 {
		unknown = true
	}
	return v, unknown, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (e *ebmlReader) id() (uint32, error) {
	v, _, err := e.vint(4, true)
	return uint32(v), err
}

func (e *ebmlReader) size() (uint64, bool, error) {
	v, unknown, err := e.vint(8, false)
	if err != nil {
		return 0, false, unexpected(err)
	}
	return v, unknown, nil
}

// read reads n bytes, growing the buffer as data arrives rather than
// trusting the declared size up front.
func (e *ebmlReader) read(n uint64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(e.r, int64(n)))
	e.pos += int64(len(b))
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) != n {
		return nil, io.ErrUnexpectedEOF
	}
	return b, nil
}

func (e *ebmlReader) skip(n uint64) error {
	k, err := e.r.Discard(int(n))
	e.pos += int64(k)
	if err != nil {
		return unexpected(err)
	}
	return nil
}

// peekID returns the next element id without consuming it; io.EOF at a
// clean end.
func (e *ebmlReader) peekID() (uint32, error) {
	b, err := e.r.Peek(1)
	if err != nil {
		return 0, err
	}
	if b[0] == 0 {
		return 0, fmt.Errorf("%w: invalid element id at %d", ErrInvalidMatroska, e.pos)
	}
	l := bits.LeadingZeros8(b[0]) + 1
	if l > 4 {
		return 0, fmt.Errorf("%w: element id of %d bytes at %d", ErrInvalidMatroska, l, e.pos)
	}
	b, err = e.r.Peek(l)
	if err != nil {
		return 0, unexpected(err)
	}
	var v uint32
	for _, c := range b {
		v = v<<8 | uint32(c)
	}
	return v, nil
}

// children iterates over the elements packed in b.
func children(b []byte, fn func(id uint32, data []byte) error) error {
	for len(b) > 0 {
		e := &ebmlReader{r: bufio.NewReader(&sliceReader{b: b})}
		id, err := e.id()
		if err != nil {
			return fmt.Errorf("%w: truncated child element", ErrInvalidMatroska)
		}
		size, unknown, err := e.size()
		if err != nil || unknown {
			return fmt.Errorf("%w: bad child element size", ErrInvalidMatroska)
		}
		hdr := int(e.pos)
		if size > uint64(len(b)-hdr) {
			return fmt.Errorf("%w: child element 0x%X overruns its parent", ErrInvalidMatroska, id)
		}
		if err := fn(id, b[hdr:hdr+int(size)]); err != nil {
			return err
		}
		b = b[hdr+int(size):]
	}
	return nil
}

type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

func readUint(b []byte) (uint64, error) {
	if len(b) > 8 {
		return 0, fmt.Errorf("%w: unsigned integer of %d bytes", ErrInvalidMatroska, len(b))
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// ParseMatroska reads a Matroska stream as KVS does: one EBML header, one
// Segment (of known or unknown size) holding Info, Tracks and Clusters (of
// known or unknown size), calling h as elements complete. It returns nil at
// a clean end of the stream.
func ParseMatroska(r io.Reader, h Handler) error {
	e := &ebmlReader{r: bufio.NewReaderSize(r, 64<<10)}
	id, err := e.id()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty stream", ErrInvalidMatroska)
		}
		return err
	}
	if id != idEBML {
		return fmt.Errorf("%w: does not start with an EBML header", ErrInvalidMatroska)
	}
	b, err := e.element(maxHeaderElement)
	if err != nil {
		return err
	}
	var docType string
	if err := children(b, func(id uint32, d []byte) error {
		if id == idDocType {
			docType = string(d)
		}
		return nil
	}); err != nil {
		return err
	}
	if docType != "matroska" && docType != "webm" {
		return fmt.Errorf("%w: DocType %q", ErrInvalidMatroska, docType)
	}
	if id, err = e.id(); err != nil {
		return fmt.Errorf("%w: no Segment", ErrInvalidMatroska)
	}
	if id != idSegment {
		return fmt.Errorf("%w: element 0x%X where the Segment should be", ErrInvalidMatroska, id)
	}
	segSize, segUnknown, err := e.size()
	if err != nil {
		return err
	}
	segEnd := e.pos + int64(segSize)
	hdr := Header{DocType: docType, TimecodeScale: 1000000}
	haveTracks := false
	for {
		if !segUnknown && e.pos >= segEnd {
			if _, err := e.r.Peek(1); err == nil {
				return fmt.Errorf("%w: data after the Segment (only one Segment is allowed)", ErrInvalidMatroska)
			}
			return nil
		}
		id, err := e.id()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if segUnknown {
					return nil
				}
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch id {
		case idInfo:
			b, err := e.element(maxHeaderElement)
			if err != nil {
				return err
			}
			if err := children(b, func(id uint32, d []byte) error {
				if id == idTimecodeScale {
					v, err := readUint(d)
					if err != nil || v == 0 {
						return fmt.Errorf("%w: bad TimecodeScale", ErrInvalidMatroska)
					}
					hdr.TimecodeScale = v
				}
				return nil
			}); err != nil {
				return err
			}
		case idTracks:
			if haveTracks {
				return fmt.Errorf("%w: second Tracks element", ErrInvalidMatroska)
			}
			b, err := e.element(maxHeaderElement)
			if err != nil {
				return err
			}
			if hdr.Tracks, err = parseTracks(b); err != nil {
				return err
			}
			haveTracks = true
			if err := h.Header(hdr); err != nil {
				return err
			}
		case idCluster:
			if !haveTracks {
				return fmt.Errorf("%w: Cluster before Tracks", ErrInvalidMatroska)
			}
			if err := e.cluster(h); err != nil {
				return err
			}
		case idEBML, idSegment:
			return fmt.Errorf("%w: nested EBML header or Segment", ErrInvalidMatroska)
		default:
			size, unknown, err := e.size()
			if err != nil {
				return err
			}
			if unknown || size > maxClusterBytes {
				return fmt.Errorf("%w: element 0x%X of unknown or excessive size", ErrInvalidMatroska, id)
			}
			if err := e.skip(size); err != nil {
				return err
			}
		}
	}
}

// element reads the size and body of an element whose id was read.
func (e *ebmlReader) element(limit uint64) ([]byte, error) {
	size, unknown, err := e.size()
	if err != nil {
		return nil, err
	}
	if unknown || size > limit {
		return nil, fmt.Errorf("%w: element of unknown or excessive size", ErrInvalidMatroska)
	}
	return e.read(size)
}

func parseTracks(b []byte) ([]TrackInfo, error) {
	var tracks []TrackInfo
	err := children(b, func(id uint32, d []byte) error {
		if id != idTrackEntry {
			return nil
		}
		var t TrackInfo
		err := children(d, func(id uint32, v []byte) error {
			var err error
			switch id {
			case idTrackNumber:
				t.Number, err = readUint(v)
			case idTrackType:
				t.Type, err = readUint(v)
			case idCodecID:
				t.CodecID = string(v)
			case idCodecPrivate:
				t.CodecPrivate = append([]byte(nil), v...)
			case idDefaultDur:
				t.DefaultDuration, err = readUint(v)
			case idVideo:
				err = children(v, func(id uint32, x []byte) error {
					var err error
					switch id {
					case idPixelWidth:
						t.Width, err = readUint(x)
					case idPixelHeight:
						t.Height, err = readUint(x)
					}
					return err
				})
			}
			return err
		})
		if err != nil {
			return err
		}
		if t.Number == 0 {
			return fmt.Errorf("%w: TrackEntry without TrackNumber", ErrInvalidMatroska)
		}
		tracks = append(tracks, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(tracks) == 0 {
		return nil, fmt.Errorf("%w: no tracks", ErrInvalidMatroska)
	}
	return tracks, nil
}

func isLevel1(id uint32) bool {
	switch id {
	case idCluster, idCues, idTags, idSeekHead, idInfo, idTracks, idChapters, idAttachments, idEBML, idSegment:
		return true
	}
	return false
}

// cluster reads a cluster whose id was read, streaming its children so that
// ClusterStart fires as soon as the Timecode arrives.
func (e *ebmlReader) cluster(h Handler) error {
	size, unknown, err := e.size()
	if err != nil {
		return err
	}
	if !unknown && size > maxClusterBytes {
		return fmt.Errorf("%w: cluster of %d bytes", ErrInvalidMatroska, size)
	}
	start := e.pos
	end := start + int64(size)
	var c Cluster
	gotTC := false
	for {
		if !unknown && e.pos >= end {
			break
		}
		if unknown {
			id, err := e.peekID()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if isLevel1(id) {
				break
			}
		}
		id, err := e.id()
		if err != nil {
			return unexpected(err)
		}
		csize, cunknown, err := e.size()
		if err != nil {
			return err
		}
		if cunknown || csize > maxClusterBytes || (!unknown && e.pos+int64(csize) > end) || e.pos+int64(csize)-start > maxClusterBytes {
			return fmt.Errorf("%w: cluster child 0x%X of bad size", ErrInvalidMatroska, id)
		}
		switch id {
		case idTimecode:
			d, err := e.read(csize)
			if err != nil {
				return err
			}
			if c.Timecode, err = readUint(d); err != nil {
				return err
			}
			if gotTC || len(c.Blocks) > 0 {
				return fmt.Errorf("%w: cluster Timecode after blocks or twice", ErrInvalidMatroska)
			}
			gotTC = true
			if err := h.ClusterStart(c.Timecode); err != nil {
				return err
			}
		case idSimpleBlock, idBlockGroup:
			if !gotTC {
				return fmt.Errorf("%w: block before the cluster Timecode", ErrInvalidMatroska)
			}
			d, err := e.read(csize)
			if err != nil {
				return err
			}
			var b Block
			if id == idSimpleBlock {
				b, err = parseBlock(d, true)
			} else {
				b, err = parseBlockGroup(d)
			}
			if err != nil {
				return err
			}
			c.Blocks = append(c.Blocks, b)
		default:
			if err := e.skip(csize); err != nil {
				return err
			}
		}
	}
	if !gotTC {
		return fmt.Errorf("%w: cluster without Timecode", ErrInvalidMatroska)
	}
	c.Bytes = e.pos - start
	return h.ClusterEnd(c)
}

func parseBlockGroup(d []byte) (Block, error) {
	var b Block
	found, ref := false, false
	err := children(d, func(id uint32, v []byte) error {
		switch id {
		case idBlock:
			var err error
			b, err = parseBlock(v, false)
			found = true
			return err
		case idRefBlock:
			ref = true
		}
		return nil
	})
	if err != nil {
		return Block{}, err
	}
	if !found {
		return Block{}, fmt.Errorf("%w: BlockGroup without Block", ErrInvalidMatroska)
	}
	b.Key = !ref
	return b, nil
}

func parseBlock(d []byte, simple bool) (Block, error) {
	e := &ebmlReader{r: bufio.NewReader(&sliceReader{b: d})}
	track, unknown, err := e.vint(8, false)
	if err != nil || unknown || track == 0 {
		return Block{}, fmt.Errorf("%w: bad block track number", ErrInvalidMatroska)
	}
	n := int(e.pos)
	if len(d) < n+3 {
		return Block{}, fmt.Errorf("%w: truncated block", ErrInvalidMatroska)
	}
	b := Block{Track: track, Timecode: int16(binary.BigEndian.Uint16(d[n:]))}
	flags := d[n+2]
	if flags&0x06 != 0 {
		return Block{}, fmt.Errorf("%w: laced blocks are not supported for video", ErrInvalidMatroska)
	}
	if simple {
		b.Key = flags&0x80 != 0
	}
	b.Data = append([]byte(nil), d[n+3:]...)
	return b, nil
}
