package stream

import (
	"fmt"
	"image"
	"image/draw"
	"strings"
)

// PixelFormat is the memory layout of a raw frame.
type PixelFormat struct {
	name, gst, ffmpeg string
}

// Raw pixel formats. Planes are packed without padding.
var (
	PixelI420  = PixelFormat{"i420", "i420", "yuv420p"}
	PixelNV12  = PixelFormat{"nv12", "nv12", "nv12"}
	PixelRGB24 = PixelFormat{"rgb24", "rgb", "rgb24"}
	PixelBGR24 = PixelFormat{"bgr24", "bgr", "bgr24"} // OpenCV's layout
	PixelRGBA  = PixelFormat{"rgba", "rgba", "rgba"}
	PixelBGRA  = PixelFormat{"bgra", "bgra", "bgra"}
	PixelGray8 = PixelFormat{"gray8", "gray8", "gray"}
)

var pixelFormats = []PixelFormat{PixelI420, PixelNV12, PixelRGB24, PixelBGR24, PixelRGBA, PixelBGRA, PixelGray8}

// PixelFormatNames lists the accepted names.
func PixelFormatNames() []string {
	n := make([]string, len(pixelFormats))
	for i, p := range pixelFormats {
		n[i] = p.name
	}
	return n
}

// ParsePixelFormat looks a format up by name (i420, nv12, rgb24, bgr24,
// rgba, bgra, gray8).
func ParsePixelFormat(s string) (PixelFormat, error) {
	for _, p := range pixelFormats {
		if strings.EqualFold(s, p.name) {
			return p, nil
		}
	}
	return PixelFormat{}, fmt.Errorf("unknown pixel format %q (one of %s)", s, strings.Join(PixelFormatNames(), ", "))
}

func (p PixelFormat) String() string { return p.name }

// FrameSize returns the bytes of one w×h frame.
func (p PixelFormat) FrameSize(w, h int) int {
	_, _, size := p.layout(w, h)
	return size
}

// layout returns plane strides, plane offsets and the frame size (w and h
// even for the 4:2:0 formats).
func (p PixelFormat) layout(w, h int) (strides, offsets []int, size int) {
	switch p {
	case PixelI420:
		cw, ch := (w+1)/2, (h+1)/2
		return []int{w, cw, cw}, []int{0, w * h, w*h + cw*ch}, w*h + 2*cw*ch
	case PixelNV12:
		cw, ch := (w+1)/2, (h+1)/2
		return []int{w, 2 * cw}, []int{0, w * h}, w*h + 2*cw*ch
	case PixelRGB24, PixelBGR24:
		return []int{3 * w}, []int{0}, 3 * w * h
	case PixelRGBA, PixelBGRA:
		return []int{4 * w}, []int{0}, 4 * w * h
	case PixelGray8:
		return []int{w}, []int{0}, w * h
	}
	return nil, nil, 0
}

// imageFormat picks the raw format an image is passed in: I420 for 4:2:0
// YCbCr images (decoded JPEG/H.264 frames), RGBA otherwise.
func imageFormat(img image.Image) PixelFormat {
	if y, ok := img.(*image.YCbCr); ok && y.SubsampleRatio == image.YCbCrSubsampleRatio420 {
		return PixelI420
	}
	return PixelRGBA
}

// appendImage appends img (of size w×h) in format pf to dst.
func appendImage(dst []byte, img image.Image, pf PixelFormat) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch pf {
	case PixelI420:
		y, ok := img.(*image.YCbCr)
		if !ok || y.SubsampleRatio != image.YCbCrSubsampleRatio420 {
			return appendI420FromRGBA(dst, toRGBA(img)), nil
		}
		for r := range h {
			o := y.YOffset(b.Min.X, b.Min.Y+r)
			dst = append(dst, y.Y[o:o+w]...)
		}
		cw, ch := (w+1)/2, (h+1)/2
		for _, plane := range [][]byte{y.Cb, y.Cr} {
			for r := range ch {
				o := y.COffset(b.Min.X, b.Min.Y+2*r)
				dst = append(dst, plane[o:o+cw]...)
			}
		}
		return dst, nil
	case PixelRGBA:
		rgba := toRGBA(img)
		for r := range h {
			o := r * rgba.Stride
			dst = append(dst, rgba.Pix[o:o+4*w]...)
		}
		return dst, nil
	}
	return nil, fmt.Errorf("images cannot be written as %s", pf)
}

func toRGBA(img image.Image) *image.RGBA {
	if r, ok := img.(*image.RGBA); ok && r.Rect.Min == (image.Point{}) {
		return r
	}
	b := img.Bounds()
	r := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(r, r.Rect, img, b.Min, draw.Src)
	return r
}

// appendI420FromRGBA converts with BT.601 limited-range coefficients.
func appendI420FromRGBA(dst []byte, img *image.RGBA) []byte {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	at := func(x, y int) (int, int, int) {
		o := y*img.Stride + 4*x
		return int(img.Pix[o]), int(img.Pix[o+1]), int(img.Pix[o+2])
	}
	for y := range h {
		for x := range w {
			r, g, b := at(x, y)
			dst = append(dst, byte((66*r+129*g+25*b+128)>>8+16))
		}
	}
	cw, ch := (w+1)/2, (h+1)/2
	us := make([]byte, 0, cw*ch)
	vs := make([]byte, 0, cw*ch)
	for cy := range ch {
		for cx := range cw {
			var sr, sg, sb, n int
			for dy := range 2 {
				for dx := range 2 {
					x, y := 2*cx+dx, 2*cy+dy
					if x < w && y < h {
						r, g, b := at(x, y)
						sr, sg, sb, n = sr+r, sg+g, sb+b, n+1
					}
				}
			}
			r, g, b := sr/n, sg/n, sb/n
			us = append(us, byte((-38*r-74*g+112*b+128)>>8+128))
			vs = append(vs, byte((112*r-94*g-18*b+128)>>8+128))
		}
	}
	return append(append(dst, us...), vs...)
}
