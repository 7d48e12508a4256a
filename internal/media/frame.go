package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Frame is one decoded picture in packed 8-bit RGB (3 bytes a pixel, rows
// top to bottom without padding).
type Frame struct {
	Width, Height int
	Pix           []byte
}

// Decoder decodes a single frame of a video file. Implementations are safe
// for concurrent use.
type Decoder interface {
	// Frame decodes the frame shown at time at (0: the first frame) of
	// the file at path.
	Frame(ctx context.Context, path string, at time.Duration) (*Frame, error)
}

// ErrNoFrame is returned when the file has no video frame at the requested
// time (an empty or audio-only file, or a time past the end).
var ErrNoFrame = errors.New("no video frame")

// ErrUndecodable is returned when the decoder rejects the file (ffmpeg
// exited with an error): retrying the same file will not help.
var ErrUndecodable = errors.New("undecodable video")

// ErrFrameTooLarge is returned when a frame has more pixels than allowed.
var ErrFrameTooLarge = errors.New("frame too large")

// maxHeaderToken bounds the digits of one PPM header number.
const maxHeaderToken = 10

// ReadPPMHeader reads a binary PPM (P6) header from r and returns the
// picture's width, height and maxval. Comments (# to end of line) are
// allowed between fields, as netpbm allows; after maxval exactly one
// whitespace byte precedes the pixel data. Only maxval 255 (8-bit) is
// accepted, and width*height must not exceed maxPixels.
func ReadPPMHeader(r *bufio.Reader, maxPixels int) (width, height int, err error) {
	magic := make([]byte, 2)
	if _, err := io.ReadFull(r, magic); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, 0, ErrNoFrame
		}
		return 0, 0, fmt.Errorf("reading PPM magic: %w", err)
	}
	if magic[0] != 'P' || magic[1] != '6' {
		return 0, 0, fmt.Errorf("not a binary PPM (magic %q)", magic)
	}
	var nums [3]int
	for i := range nums {
		n, err := ppmNumber(r)
		if err != nil {
			return 0, 0, fmt.Errorf("PPM header field %d: %w", i+1, err)
		}
		nums[i] = n
	}
	// One whitespace byte ends the header.
	b, err := r.ReadByte()
	if err != nil {
		return 0, 0, fmt.Errorf("PPM header: %w", err)
	}
	if !isSpace(b) {
		return 0, 0, fmt.Errorf("PPM header: want whitespace after maxval, got %q", b)
	}
	width, height = nums[0], nums[1]
	if width < 1 || height < 1 {
		return 0, 0, fmt.Errorf("PPM size %dx%d: %w", width, height, ErrNoFrame)
	}
	if nums[2] != 255 {
		return 0, 0, fmt.Errorf("PPM maxval %d: only 8-bit (255) is supported", nums[2])
	}
	if width > maxPixels || height > maxPixels || width*height > maxPixels {
		return 0, 0, fmt.Errorf("%dx%d exceeds %d pixels: %w", width, height, maxPixels, ErrFrameTooLarge)
	}
	return width, height, nil
}

// ppmNumber skips whitespace and comments and reads one decimal number.
func ppmNumber(r *bufio.Reader) (int, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch {
		case isSpace(b):
			continue
		case b == '#':
			if _, err := r.ReadSlice('\n'); err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return 0, err
			}
			continue
		case b >= '0' && b <= '9':
			n := int(b - '0')
			for digits := 1; ; digits++ {
				c, err := r.ReadByte()
				if err != nil {
					return 0, err
				}
				if c < '0' || c > '9' {
					if !isSpace(c) && c != '#' {
						return 0, fmt.Errorf("unexpected %q in number", c)
					}
					_ = r.UnreadByte()
					return n, nil
				}
				if digits >= maxHeaderToken {
					return 0, errors.New("number too long")
				}
				n = n*10 + int(c-'0')
			}
		default:
			return 0, fmt.Errorf("unexpected %q", b)
		}
	}
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

// ReadPPM reads one binary PPM picture from r.
func ReadPPM(r *bufio.Reader, maxPixels int) (*Frame, error) {
	w, h, err := ReadPPMHeader(r, maxPixels)
	if err != nil {
		return nil, err
	}
	f := &Frame{Width: w, Height: h, Pix: make([]byte, w*h*3)}
	if _, err := io.ReadFull(r, f.Pix); err != nil {
		return nil, fmt.Errorf("reading %dx%d pixels: %w", w, h, err)
	}
	return f, nil
}
