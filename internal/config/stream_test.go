package config

import (
	"strings"
	"testing"
	"time"
)

func TestStreamDefaultsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if err := c.Stream.CheckRun(); err == nil || !strings.Contains(err.Error(), "stream.input") {
		t.Fatalf("CheckRun on defaults = %v, want the missing input", err)
	}
}

func TestStreamValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Stream)
		key    string
	}{
		{"odd width", func(s *Stream) { s.Width, s.Height = 641, 480 }, "stream.width"},
		{"width without height", func(s *Stream) { s.Width = 640 }, "stream.height"},
		{"fps", func(s *Stream) { s.FPS = 500 }, "stream.fps"},
		{"pixel format", func(s *Stream) { s.PixelFormat = "yuyv" }, "stream.pixel_format"},
		{"tool", func(s *Stream) { s.Encoder.Tool = "vlc" }, "stream.encoder.tool"},
		{"preset", func(s *Stream) { s.Encoder.Preset = "warp" }, "stream.encoder.preset"},
		{"bitrate", func(s *Stream) { s.Encoder.Bitrate = 0 }, "stream.encoder.bitrate"},
		{"name and arn", func(s *Stream) { s.KVS.StreamName, s.KVS.StreamARN = "a", "arn:aws:kinesisvideo:x" }, "stream.kvs.stream_arn"},
		{"stream name", func(s *Stream) { s.KVS.StreamName = "bad name" }, "stream.kvs.stream_name"},
		{"endpoint", func(s *Stream) { s.KVS.Endpoint = "localhost:1" }, "stream.kvs.endpoint"},
		{"fragment too short", func(s *Stream) { s.KVS.FragmentDuration = Duration(100 * time.Millisecond) }, "stream.kvs.fragment_duration"},
		{"ack level", func(s *Stream) { s.KVS.AckLevel = "buffering" }, "stream.kvs.ack_level"},
		{"buffer full", func(s *Stream) { s.KVS.BufferFull = "spill" }, "stream.kvs.buffer_full"},
		{"source", func(s *Stream) { s.KVS.Credentials.Source = "vault" }, "stream.kvs.credentials.source"},
		{"static without keys", func(s *Stream) { s.KVS.Credentials.Source = "static" }, "stream.kvs.credentials.access_key_id"},
		{"file without path", func(s *Stream) { s.KVS.Credentials.Source = "file" }, "stream.kvs.credentials.file"},
		{"metrics listen", func(s *Stream) { s.MetricsListen = "9100" }, "stream.metrics_listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c.Stream)
			err := c.Validate()
			ps, ok := err.(Problems)
			if !ok || len(ps) != 1 || ps[0].Key != tt.key {
				t.Fatalf("Validate = %v, want one problem at %s", err, tt.key)
			}
		})
	}
}

func TestStreamEnv(t *testing.T) {
	c := Default()
	env := map[string]string{
		"KGATE_STREAM_INPUT": "rtsp://cam/1", "KGATE_STREAM_FPS": "12.5", "KGATE_STREAM_KVS_CREATE_STREAM": "true",
		"KGATE_STREAM_KVS_SECRET_ACCESS_KEY": "sk", "KGATE_STREAM_KVS_ACCESS_KEY_ID": "ak", "KGATE_STREAM_REALTIME": "false",
		"KGATE_STREAM_HLS_SEGMENT_DURATION": "4s",
	}
	if err := ApplyEnv(&c, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	s := c.Stream
	if s.Input != "rtsp://cam/1" || s.FPS != 12.5 || !s.KVS.CreateStream || s.KVS.Credentials.SecretAccessKey.Reveal() != "sk" ||
		s.Realtime == nil || *s.Realtime || s.HLS.SegmentDuration.D() != 4*time.Second {
		t.Errorf("after env: %+v", s)
	}
	b, _ := Marshal(&c)
	if strings.Contains(string(b), "secret_access_key: sk") {
		t.Errorf("secret printed:\n%s", b)
	}
}
