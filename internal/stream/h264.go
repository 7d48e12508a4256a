package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// H.264 NAL unit types used here.
const (
	nalSlice    = 1
	nalIDR      = 5
	nalSEI      = 6
	nalSPS      = 7
	nalPPS      = 8
	nalAUD      = 9
	nalEndSeq   = 10
	nalEndStrm  = 11
	nalFiller   = 12
	maxNALBytes = 32 << 20
)

func nalType(nal []byte) byte {
	if len(nal) == 0 {
		return 0
	}
	return nal[0] & 0x1F
}

// ErrInvalidH264 reports H.264 data that cannot be parsed.
var ErrInvalidH264 = errors.New("invalid H.264 data")

// NALReader splits an Annex B byte stream (start-code delimited, as
// encoders write it) into NAL units. It is not safe for concurrent use.
type NALReader struct {
	r       io.Reader
	buf     []byte
	scan    int // buf[:scan] holds no start code (beyond the first)
	started bool
	eof     bool
}

// NewNALReader returns a reader of the Annex B stream r.
func NewNALReader(r io.Reader) *NALReader { return &NALReader{r: r} }

var startCode = []byte{0, 0, 1}

// Next returns the next NAL unit (a fresh slice the caller may keep), or
// io.EOF at the end of the stream.
func (n *NALReader) Next() ([]byte, error) {
	for {
		if !n.started {
			if i := bytes.Index(n.buf, startCode); i >= 0 {
				n.buf = n.buf[i+3:]
				n.started, n.scan = true, 0
				continue
			}
			if n.eof {
				return nil, io.EOF
			}
			if len(n.buf) > 2 {
				n.buf = n.buf[len(n.buf)-2:] // leading garbage
			}
		} else {
			if i := bytes.Index(n.buf[n.scan:], startCode); i >= 0 {
				end := n.scan + i
				nal := bytes.TrimRight(n.buf[:end], "\x00")
				n.buf = n.buf[end+3:]
				n.scan = 0
				if len(nal) == 0 {
					continue
				}
				return bytes.Clone(nal), nil
			}
			if n.eof {
				nal := bytes.TrimRight(n.buf, "\x00")
				n.buf = nil
				n.started = false
				if len(nal) == 0 {
					return nil, io.EOF
				}
				return bytes.Clone(nal), nil
			}
			n.scan = max(0, len(n.buf)-2)
			if len(n.buf) > maxNALBytes {
				return nil, fmt.Errorf("%w: NAL unit larger than %d bytes", ErrInvalidH264, maxNALBytes)
			}
		}
		if err := n.fill(); err != nil {
			return nil, err
		}
	}
}

func (n *NALReader) fill() error {
	if cap(n.buf)-len(n.buf) < 32<<10 {
		nb := make([]byte, len(n.buf), 2*cap(n.buf)+64<<10)
		copy(nb, n.buf)
		n.buf = nb
	}
	k, err := n.r.Read(n.buf[len(n.buf):cap(n.buf)])
	n.buf = n.buf[:len(n.buf)+k]
	if errors.Is(err, io.EOF) {
		n.eof = true
		return nil
	}
	return err
}

// AUAssembler groups NAL units into access units by the rules of H.264
// 7.4.1.2.3: an access unit delimiter, SEI or parameter set after a slice,
// or a slice whose first_mb_in_slice is 0 after a slice, starts the next
// one. It is not safe for concurrent use.
type AUAssembler struct {
	cur      [][]byte
	hasSlice bool
}

// Push adds a NAL unit; it returns the previous access unit when nal
// starts a new one.
func (a *AUAssembler) Push(nal []byte) [][]byte {
	t := nalType(nal)
	starts := false
	switch {
	case t == nalAUD:
		starts = len(a.cur) > 0
	case t == nalSEI || t == nalSPS || t == nalPPS || (t >= 14 && t <= 18):
		starts = a.hasSlice
	case t == nalSlice || t == nalIDR:
		starts = a.hasSlice && len(nal) > 1 && nal[1]&0x80 != 0 // first_mb_in_slice == 0
	}
	var out [][]byte
	if starts {
		out = a.cur
		a.cur, a.hasSlice = nil, false
	}
	a.cur = append(a.cur, nal)
	if t == nalSlice || t == nalIDR {
		a.hasSlice = true
	}
	return out
}

// Flush returns the last access unit, if it holds a slice.
func (a *AUAssembler) Flush() [][]byte {
	out := a.cur
	a.cur = nil
	if !a.hasSlice {
		return nil
	}
	a.hasSlice = false
	return out
}

// isKey reports whether an access unit holds an IDR slice.
func isKey(au [][]byte) bool {
	for _, nal := range au {
		if nalType(nal) == nalIDR {
			return true
		}
	}
	return false
}

// paramSets returns the SPS and PPS found in an access unit.
func paramSets(au [][]byte) (sps, pps []byte) {
	for _, nal := range au {
		switch nalType(nal) {
		case nalSPS:
			if sps == nil {
				sps = nal
			}
		case nalPPS:
			if pps == nil {
				pps = nal
			}
		}
	}
	return sps, pps
}

// SPS holds what kgate needs from a sequence parameter set.
type SPS struct {
	ProfileIDC, Constraints, LevelIDC byte
	ChromaFormatIDC                   uint
	BitDepthLuma, BitDepthChroma      uint
	Width, Height                     int
}

// highProfile reports profiles whose SPS carries chroma and bit-depth
// fields (and whose avcC needs the extension bytes).
func highProfile(p byte) bool {
	switch p {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// rbsp removes emulation-prevention bytes (00 00 03).
func rbsp(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

type bitReader struct {
	b   []byte
	pos int
	err error
}

func (r *bitReader) bit() uint {
	if r.pos >= len(r.b)*8 {
		r.err = fmt.Errorf("%w: SPS truncated", ErrInvalidH264)
		return 0
	}
	v := uint(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v
}

func (r *bitReader) bits(n int) uint {
	var v uint
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

// ue reads an unsigned Exp-Golomb code (up to 32 bits of value).
func (r *bitReader) ue() uint {
	zeros := 0
	for r.bit() == 0 {
		if r.err != nil {
			return 0
		}
		zeros++
		if zeros > 31 {
			r.err = fmt.Errorf("%w: Exp-Golomb code too long", ErrInvalidH264)
			return 0
		}
	}
	return (1<<zeros - 1) + r.bits(zeros)
}

func (r *bitReader) se() int {
	v := r.ue()
	if v%2 == 1 {
		return int(v/2 + 1)
	}
	return -int(v / 2)
}

// ParseSPS reads the profile, level, chroma format and picture size of an
// SPS NAL unit.
func ParseSPS(nal []byte) (SPS, error) {
	if nalType(nal) != nalSPS || len(nal) < 4 {
		return SPS{}, fmt.Errorf("%w: not an SPS", ErrInvalidH264)
	}
	s := SPS{ProfileIDC: nal[1], Constraints: nal[2], LevelIDC: nal[3], ChromaFormatIDC: 1, BitDepthLuma: 8, BitDepthChroma: 8}
	r := &bitReader{b: rbsp(nal[4:])}
	r.ue() // seq_parameter_set_id
	separate := false
	if highProfile(s.ProfileIDC) {
		s.ChromaFormatIDC = r.ue()
		if s.ChromaFormatIDC > 3 {
			return SPS{}, fmt.Errorf("%w: chroma_format_idc %d", ErrInvalidH264, s.ChromaFormatIDC)
		}
		if s.ChromaFormatIDC == 3 {
			separate = r.bit() == 1
		}
		s.BitDepthLuma = 8 + r.ue()
		s.BitDepthChroma = 8 + r.ue()
		if s.BitDepthLuma > 14 || s.BitDepthChroma > 14 {
			return SPS{}, fmt.Errorf("%w: bit depth", ErrInvalidH264)
		}
		r.bit()           // qpprime_y_zero_transform_bypass_flag
		if r.bit() == 1 { // seq_scaling_matrix_present_flag
			n := 8
			if s.ChromaFormatIDC == 3 {
				n = 12
			}
			for i := range n {
				if r.bit() == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					last, next := 8, 8
					for range size {
						if next != 0 {
							next = (last + r.se() + 256) % 256
						}
						if next != 0 {
							last = next
						}
						if r.err != nil {
							return SPS{}, r.err
						}
					}
				}
			}
		}
	}
	r.ue() // log2_max_frame_num_minus4
	switch poc := r.ue(); poc {
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.bit()
		r.se()
		r.se()
		n := r.ue()
		if n > 255 {
			return SPS{}, fmt.Errorf("%w: num_ref_frames_in_pic_order_cnt_cycle %d", ErrInvalidH264, n)
		}
		for range n {
			r.se()
		}
	case 2:
	default:
		return SPS{}, fmt.Errorf("%w: pic_order_cnt_type %d", ErrInvalidH264, poc)
	}
	r.ue()  // max_num_ref_frames
	r.bit() // gaps_in_frame_num_value_allowed_flag
	wMbs := r.ue() + 1
	hMapUnits := r.ue() + 1
	frameMbsOnly := r.bit()
	if frameMbsOnly == 0 {
		r.bit() // mb_adaptive_frame_field_flag
	}
	r.bit() // direct_8x8_inference_flag
	var cl, cr, ct, cb uint
	if r.bit() == 1 {
		cl, cr, ct, cb = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.err != nil {
		return SPS{}, r.err
	}
	if wMbs > 1024 || hMapUnits > 1024 {
		return SPS{}, fmt.Errorf("%w: picture of %dx%d macroblocks", ErrInvalidH264, wMbs, hMapUnits)
	}
	cropX, cropY := uint(1), 2-frameMbsOnly
	if s.ChromaFormatIDC != 0 && !separate {
		subW, subH := uint(2), uint(2)
		switch s.ChromaFormatIDC {
		case 2:
			subH = 1
		case 3:
			subW, subH = 1, 1
		}
		cropX, cropY = subW, subH*(2-frameMbsOnly)
	}
	w := int(wMbs*16) - int(cropX*(cl+cr))
	h := int((2-frameMbsOnly)*hMapUnits*16) - int(cropY*(ct+cb))
	if w <= 0 || h <= 0 {
		return SPS{}, fmt.Errorf("%w: cropping leaves %dx%d", ErrInvalidH264, w, h)
	}
	s.Width, s.Height = w, h
	return s, nil
}

// AVCDecoderConfig builds the AVCDecoderConfigurationRecord (ISO/IEC
// 14496-15 5.2.4.1, the Matroska CodecPrivate of V_MPEG4/ISO/AVC) for one
// SPS and one PPS, with 4-byte NAL lengths.
func AVCDecoderConfig(sps, pps []byte) ([]byte, error) {
	s, err := ParseSPS(sps)
	if err != nil {
		return nil, err
	}
	if nalType(pps) != nalPPS {
		return nil, fmt.Errorf("%w: not a PPS", ErrInvalidH264)
	}
	if len(sps) > 0xFFFF || len(pps) > 0xFFFF {
		return nil, fmt.Errorf("%w: parameter set too large", ErrInvalidH264)
	}
	b := []byte{1, s.ProfileIDC, s.Constraints, s.LevelIDC, 0xFC | 3, 0xE0 | 1}
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	b = append(b, pps...)
	if highProfile(s.ProfileIDC) {
		b = append(b, 0xFC|byte(s.ChromaFormatIDC), 0xF8|byte(s.BitDepthLuma-8), 0xF8|byte(s.BitDepthChroma-8), 0)
	}
	return b, nil
}

// appendAVCC appends an access unit in AVCC form (4-byte big-endian length
// before each NAL unit), leaving out access unit delimiters, which have no
// place in Matroska.
func appendAVCC(dst []byte, nalus [][]byte) []byte {
	for _, nal := range nalus {
		if nalType(nal) == nalAUD {
			continue
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(nal)))
		dst = append(dst, nal...)
	}
	return dst
}
