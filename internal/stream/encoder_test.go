package stream

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGStreamerElements(t *testing.T) {
	for _, tt := range []struct {
		src  Source
		want []string
	}{
		{Source{Kind: InputTestPattern, Width: 64, Height: 48, FPS: 10}, []string{"videotestsrc", "x264enc", "fdsink"}},
		{Source{Kind: InputRaw, Width: 64, Height: 48, FPS: 10}, []string{"fdsrc", "rawvideoparse", "videoconvert", "x264enc", "fdsink"}},
		{Source{Kind: InputFile, Location: "/x.mp4", FPS: 10}, []string{"uridecodebin", "videoconvert", "videoscale", "videorate", "x264enc", "fdsink"}},
	} {
		got, err := GStreamerElements(tt.src, EncoderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.src.Kind, d)
		}
	}
}
