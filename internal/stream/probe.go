package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Probe is what ffprobe tells about an input's first video stream.
type Probe struct {
	Codec         string
	Width, Height int
	FPS           float64
}

// ProbeInput asks ffprobe for the size and frame rate of a file or URL.
func ProbeInput(ctx context.Context, kind InputKind, location string) (Probe, error) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		return Probe{}, errors.New("ffprobe is not installed")
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	args := []string{"-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,avg_frame_rate,r_frame_rate", "-of", "json"}
	in := location
	switch kind {
	case InputFile:
		in = "file:" + location
	case InputURL:
		if strings.HasPrefix(strings.ToLower(location), "rtsp") {
			args = append(args, "-rtsp_transport", "tcp")
		}
	default:
		return Probe{}, fmt.Errorf("cannot probe %s input", kind)
	}
	out, err := exec.CommandContext(ctx, "ffprobe", append(args, in)...).Output()
	red := NewRedactor(location)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return Probe{}, fmt.Errorf("ffprobe: %s", red.Redact(strings.TrimSpace(string(ee.Stderr))))
		}
		return Probe{}, fmt.Errorf("ffprobe: %w", err)
	}
	return parseProbe(out)
}

func parseProbe(out []byte) (Probe, error) {
	var doc struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			AvgFrameRate string `json:"avg_frame_rate"`
			RFrameRate   string `json:"r_frame_rate"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return Probe{}, fmt.Errorf("ffprobe output: %w", err)
	}
	if len(doc.Streams) == 0 {
		return Probe{}, errors.New("the input has no video stream")
	}
	s := doc.Streams[0]
	p := Probe{Codec: s.CodecName, Width: s.Width, Height: s.Height}
	if r, err := ParseRate(s.AvgFrameRate); err == nil {
		p.FPS = r
	} else if r, err := ParseRate(s.RFrameRate); err == nil {
		p.FPS = r
	}
	return p, nil
}

// ParseRate parses a frame rate written as a fraction ("30000/1001") or a
// number ("25"); it accepts 0 < rate <= 1000.
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	num, den, frac := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid frame rate %q", s)
	}
	d := 1.0
	if frac {
		if d, err = strconv.ParseFloat(den, 64); err != nil {
			return 0, fmt.Errorf("invalid frame rate %q", s)
		}
	}
	r := n / d
	if math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 || r > 1000 {
		return 0, fmt.Errorf("invalid frame rate %q", s)
	}
	return r, nil
}
