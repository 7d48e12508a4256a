package stream

import (
	"encoding/binary"
	"io"
	"time"
)

// MPEG-2 transport stream (ISO/IEC 13818-1) for HLS segments: one program
// with one H.264 stream.
const (
	tsPacket   = 188
	pidPAT     = 0x0000
	pidPMT     = 0x1000
	pidVideo   = 0x0100
	streamH264 = 0x1B
	// ptsOffset shifts timestamps so that the PCR, which runs ahead of
	// the decoder, never goes negative (1.4 s, as ffmpeg does).
	ptsOffset = 126000
)

var crcTable = func() [256]uint32 {
	var t [256]uint32
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crc32MPEG is the CRC-32/MPEG-2 of PSI sections.
func crc32MPEG(b []byte) uint32 {
	c := uint32(0xFFFFFFFF)
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	return c
}

// tsWriter writes transport stream packets. Not safe for concurrent use.
type tsWriter struct {
	w   io.Writer
	cc  map[uint16]byte
	pkt [tsPacket]byte
}

func newTSWriter(w io.Writer) *tsWriter {
	return &tsWriter{w: w, cc: map[uint16]byte{}}
}

// section writes a PSI section (PAT or PMT) in one packet.
func (t *tsWriter) section(pid uint16, body []byte) error {
	p := t.pkt[:]
	for i := range p {
		p[i] = 0xFF
	}
	p[0] = 0x47
	p[1] = 0x40 | byte(pid>>8) // payload unit start
	p[2] = byte(pid)
	p[3] = 0x10 | t.next(pid)
	p[4] = 0 // pointer field
	n := copy(p[5:], body)
	crc := crc32MPEG(body)
	binary.BigEndian.PutUint32(p[5+n:], crc)
	_, err := t.w.Write(p)
	return err
}

func (t *tsWriter) next(pid uint16) byte {
	c := t.cc[pid]
	t.cc[pid] = (c + 1) & 0x0F
	return c
}

// tables writes the PAT and the PMT (at the start of every segment).
func (t *tsWriter) tables() error {
	pat := []byte{
		0x00,       // table_id
		0xB0, 0x0D, // section_syntax_indicator, length 13
		0x00, 0x01, // transport_stream_id
		0xC1,       // version 0, current
		0x00, 0x00, // section numbers
		0x00, 0x01, // program_number 1
		0xE0 | byte(pidPMT>>8), byte(pidPMT & 0xFF),
	}
	if err := t.section(pidPAT, pat); err != nil {
		return err
	}
	pmt := []byte{
		0x02,       // table_id
		0xB0, 0x12, // length 18
		0x00, 0x01, // program_number
		0xC1,
		0x00, 0x00,
		0xE0 | byte(pidVideo>>8), byte(pidVideo & 0xFF), // PCR PID
		0xF0, 0x00, // program_info_length
		streamH264, 0xE0 | byte(pidVideo>>8), byte(pidVideo & 0xFF), 0xF0, 0x00,
	}
	return t.section(pidPMT, pmt)
}

func putTimestamp(b []byte, marker byte, ts int64) {
	b[0] = marker<<4 | byte(ts>>29)&0x0E | 1
	b[1] = byte(ts >> 22)
	b[2] = byte(ts>>14) | 1
	b[3] = byte(ts >> 7)
	b[4] = byte(ts<<1) | 1
}

func to90k(d time.Duration) int64 { return int64(d) * 9 / 100000 }

// pes writes one access unit (Annex B) as a PES packet on the video PID,
// with a PCR and the random-access flag on keyframes.
func (t *tsWriter) pes(pts time.Duration, key bool, es []byte) error {
	ts := to90k(pts) + ptsOffset
	hdr := make([]byte, 14)
	copy(hdr, []byte{0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5})
	putTimestamp(hdr[9:], 2, ts)
	payload := append(hdr, es...)
	first := true
	for len(payload) > 0 {
		p := t.pkt[:]
		p[0] = 0x47
		p[1] = byte(pidVideo >> 8)
		if first {
			p[1] |= 0x40
		}
		p[2] = byte(pidVideo & 0xFF)
		// Adaptation field: PCR (and random access) on the first packet,
		// stuffing on the last.
		var af []byte
		if first {
			pcr := ts - ptsOffset
			flags := byte(0x10)
			if key {
				flags |= 0x40
			}
			af = []byte{7, flags,
				byte(pcr >> 25), byte(pcr >> 17), byte(pcr >> 9), byte(pcr >> 1), byte(pcr<<7) | 0x7E, 0}
		}
		room := tsPacket - 4 - len(af)
		if len(payload) < room {
			stuff := room - len(payload)
			if af == nil {
				// An adaptation field of length 0 takes one byte, of
				// length 1 (flags only) two.
				af = []byte{0}
				stuff--
				if stuff > 0 {
					af = []byte{0, 0}
					stuff--
				}
			}
			for range stuff {
				af = append(af, 0xFF)
			}
			af[0] = byte(len(af) - 1)
			room = tsPacket - 4 - len(af)
		}
		if af != nil {
			p[3] = 0x30 | t.next(pidVideo)
		} else {
			p[3] = 0x10 | t.next(pidVideo)
		}
		n := copy(p[4:], af)
		copy(p[4+n:], payload[:room])
		payload = payload[room:]
		if _, err := t.w.Write(p); err != nil {
			return err
		}
		first = false
	}
	return nil
}

// annexB renders an access unit for a transport stream: an access unit
// delimiter first (HLS wants one), and the parameter sets before an IDR
// that lacks them.
func annexB(dst []byte, f Frame, sps, pps []byte) []byte {
	dst = append(dst, 0, 0, 0, 1, nalAUD, 0xF0)
	if f.Key {
		hasSPS, hasPPS := false, false
		for _, nal := range f.NALUs {
			hasSPS = hasSPS || nalType(nal) == nalSPS
			hasPPS = hasPPS || nalType(nal) == nalPPS
		}
		if !hasSPS && sps != nil {
			dst = append(append(dst, 0, 0, 0, 1), sps...)
		}
		if !hasPPS && pps != nil {
			dst = append(append(dst, 0, 0, 0, 1), pps...)
		}
	}
	for _, nal := range f.NALUs {
		if nalType(nal) == nalAUD {
			continue
		}
		dst = append(append(dst, 0, 0, 0, 1), nal...)
	}
	return dst
}
