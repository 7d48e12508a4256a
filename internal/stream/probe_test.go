package stream

import (
	"testing"
)

func TestParseProbe(t *testing.T) {
	p, err := parseProbe([]byte(`{"programs":[],"streams":[{"codec_name":"h264","width":1920,"height":1080,"r_frame_rate":"30/1","avg_frame_rate":"30000/1001"}]}`))
	if err != nil || p.Codec != "h264" || p.Width != 1920 || p.Height != 1080 || p.FPS < 29.96 || p.FPS > 29.98 {
		t.Fatalf("parseProbe = %+v, %v", p, err)
	}
	p, err = parseProbe([]byte(`{"streams":[{"codec_name":"mjpeg","width":640,"height":480,"r_frame_rate":"15/1","avg_frame_rate":"0/0"}]}`))
	if err != nil || p.FPS != 15 {
		t.Fatalf("fallback to r_frame_rate: %+v, %v", p, err)
	}
	if _, err := parseProbe([]byte(`{"streams":[]}`)); err == nil {
		t.Fatal("no video stream accepted")
	}
}

func TestParseInput(t *testing.T) {
	tests := []struct {
		in   string
		kind InputKind
		loc  string
		err  bool
	}{
		{"testsrc", InputTestPattern, "", false},
		{"-", InputRaw, "", false},
		{"rtsp://user:pw@cam.local:554/stream1", InputURL, "rtsp://user:pw@cam.local:554/stream1", false},
		{"https://example.com/a.mp4", InputURL, "https://example.com/a.mp4", false},
		{"file:///tmp/a.mp4", InputFile, "/tmp/a.mp4", false},
		{"./testsrc", InputFile, "./testsrc", false},
		{"clips/a b.mkv", InputFile, "clips/a b.mkv", false},
		{"ftp://x/y", 0, "", true},
		{"rtsp:///nohost", 0, "", true},
		{"", 0, "", true},
	}
	for _, tt := range tests {
		kind, loc, err := ParseInput(tt.in)
		if (err != nil) != tt.err || (!tt.err && (kind != tt.kind || loc != tt.loc)) {
			t.Errorf("ParseInput(%q) = %v, %q, %v", tt.in, kind, loc, err)
		}
	}
}

func TestRedactor(t *testing.T) {
	r := NewRedactor("rtsp://admin:s3cr%40t@cam/stream")
	got := r.Redact("uri=rtsp://admin:s3cr%40t@cam/stream failed; password s3cr@t")
	if got != "uri=rtsp://admin:xxxxx@cam/stream failed; password xxxxx" {
		t.Errorf("Redact = %q", got)
	}
	if NewRedactor("/tmp/file.mp4").Redact("a") != "a" {
		t.Error("no-op redactor changed text")
	}
}

func TestRational(t *testing.T) {
	for fps, want := range map[float64]string{30: "30/1", 29.97: "30000/1001", 29.97002997: "30000/1001", 12.5: "12500/1000", 59.94: "60000/1001"} {
		if got := rational(fps); got != want {
			t.Errorf("rational(%v) = %s, want %s", fps, got, want)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"30000/1001", "25", "0/0", "1/0", "-5/1", "1e308/1e-308", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err == nil && (r <= 0 || r > 1000) {
			t.Fatalf("ParseRate(%q) = %v", s, r)
		}
	})
}
