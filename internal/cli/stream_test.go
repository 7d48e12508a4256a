package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kvs/kvsfake"
	"github.com/kgate/kgate/internal/stream"
	"github.com/kgate/kgate/internal/testutil"
)

const (
	cliAK = "AKIACLITESTKEY000001"
	cliSK = "cliTestSecretKey/000000000000000000000001"
	// cliToken is long and random-looking: the log it must stay out of
	// holds timestamps and paths, where a short token could appear.
	cliToken = "FwoGZXIvYXdzCliSessionTok3nQ8vR2xM7kLp4WzN9"
)

// needEncoder skips the test (or fails it in CI) unless the encoder
// kgate stream picks for a test pattern, and ffprobe, are installed.
func needEncoder(t *testing.T) {
	t.Helper()
	testutil.RequireTool(t, "ffprobe")
	switch tool, err := stream.ResolveTool(stream.ToolAuto); {
	case err != nil:
		testutil.Missing(t, err.Error())
	case tool == stream.ToolGStreamer:
		elems, err := stream.GStreamerElements(stream.Source{Kind: stream.InputTestPattern, Width: 96, Height: 64, FPS: 20}, stream.EncoderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		testutil.RequireGStreamer(t, elems...)
	default:
		testutil.RequireFFmpeg(t, "libx264")
	}
}

func streamEnv(vars map[string]string) (Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }}, &out, &errb
}

// kgate stream with static keys from the environment: the stream is
// created, fragments arrive signed with the keys, and the keys appear in no
// log line.
func TestStreamCommandToKVS(t *testing.T) {
	needEncoder(t)
	fake := kvsfake.New(kvsfake.Options{Region: "eu-west-1", Keys: []kvsfake.Key{{AccessKeyID: cliAK, SecretAccessKey: cliSK}}, Logf: t.Logf})
	defer fake.Close()
	dir := t.TempDir()
	env, _, stderr := streamEnv(map[string]string{
		"KGATE_STREAM_KVS_ACCESS_KEY_ID":     cliAK,
		"KGATE_STREAM_KVS_SECRET_ACCESS_KEY": cliSK,
		"KGATE_LOG_LEVEL":                    "debug",
	})
	code := Run(t.Context(), []string{"stream", "--input", "testsrc", "--width", "160", "--height", "120", "--fps", "15", "--frames", "30",
		"--key-int-max", "15", "--realtime=false", "--region", "eu-west-1", "--stream-name", "door-cam", "--create-stream",
		"--endpoint", fake.URL, "--mkv", filepath.Join(dir, "copy.mkv"), "--log-format", "json"}, env)
	logs := stderr.String()
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, logs)
	}
	st, ok := fake.Stream("door-cam")
	if !ok || st.RetentionHours != 2 {
		t.Fatalf("stream not created with the default retention: %+v", st)
	}
	frames := 0
	for _, f := range st.Fragments {
		frames += len(f.Blocks)
		if f.AccessKeyID != cliAK {
			t.Errorf("fragment signed by %q", f.AccessKeyID)
		}
	}
	if len(st.Fragments) != 2 || frames != 30 {
		t.Errorf("%d fragments with %d frames, want 2 with 30", len(st.Fragments), frames)
	}
	if strings.Contains(logs, cliAK) || strings.Contains(logs, cliSK) {
		t.Errorf("a static key appears in the log:\n%s", logs)
	}
	for _, want := range []string{`"access_key":"AKIA****"`, `"msg":"kvs upload finished"`, `"persisted":2`, `"msg":"kgate stream finished"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

// A rewritten credentials file is used for the next connection.
func TestStreamCommandCredentialsFile(t *testing.T) {
	needEncoder(t)
	fake := kvsfake.New(kvsfake.Options{Keys: []kvsfake.Key{{AccessKeyID: cliAK, SecretAccessKey: cliSK, SessionToken: cliToken}}, Logf: t.Logf})
	defer fake.Close()
	fake.CreateStream("cam", 0)
	credFile := filepath.Join(t.TempDir(), "credentials.txt")
	exp := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z")
	os.WriteFile(credFile, []byte(fmt.Sprintf("CREDENTIALS\t%s\t%s\t%s\t%s\n", cliAK, exp, cliSK, cliToken)), 0o600)
	env, _, stderr := streamEnv(map[string]string{"AWS_REGION": "us-west-2"})
	code := Run(t.Context(), []string{"stream", "--input", "testsrc", "--width", "96", "--height", "64", "--frames", "20", "--fps", "20",
		"--realtime=false", "--stream-name", "cam", "--endpoint", fake.URL, "--credentials-file", credFile}, env)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	st, _ := fake.Stream("cam")
	if len(st.Fragments) == 0 || st.Fragments[0].AccessKeyID != cliAK {
		t.Fatalf("fragments %+v", st.Fragments)
	}
	// Retention 0: no PERSISTED events, RECEIVED is the ack level.
	if !strings.Contains(stderr.String(), `"ack_level":"received"`) {
		t.Errorf("log lacks the received ack level:\n%s", stderr)
	}
	for _, s := range []string{cliAK, cliSK, cliToken} {
		if strings.Contains(stderr.String(), s) {
			t.Errorf("log contains a key (%.6s...):\n%s", s, stderr)
		}
	}
}

func TestStreamCommandUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no sink", []string{"--input", "testsrc"}, nil, "no sink"},
		{"no input", []string{"--mkv", "/tmp/x.mkv"}, nil, "stream.input: must be set"},
		{"keys are not flags", []string{"--input", "testsrc", "--secret-access-key", "x"}, nil, "flag provided but not defined"},
		{"raw without size", []string{"--input", "-", "--mkv", "/tmp/x.mkv"}, nil, "need width and height"},
		{"bad fragment duration", []string{"--input", "testsrc", "--stream-name", "s", "--fragment-duration", "20s"}, nil, "stream.kvs.fragment_duration"},
		{"odd size", []string{"--input", "testsrc", "--mkv", "/tmp/x.mkv", "--width", "161", "--height", "120"}, nil, "must be even"},
		{"half a key", []string{"--input", "testsrc", "--stream-name", "s"}, map[string]string{"KGATE_STREAM_KVS_ACCESS_KEY_ID": "AK"}, "set access_key_id and secret_access_key together"},
		{"missing file", []string{"--input", "/nonexistent/clip.mp4", "--mkv", "/tmp/x.mkv"}, nil, "stream.input: cannot be read"},
		{"positional argument", []string{"--input", "testsrc", "--mkv", "/tmp/x.mkv", "extra"}, nil, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _, stderr := streamEnv(tt.env)
			if code := Run(t.Context(), append([]string{"stream"}, tt.args...), env); code != exitConfig {
				t.Fatalf("exit %d, want %d\n%s", code, exitConfig, stderr)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr)
			}
		})
	}
}

// Flags win over KGATE_* variables, which win over the YAML file, which
// wins over the defaults.
func TestStreamFlagPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kgate.yaml")
	os.WriteFile(path, []byte("stream:\n  encoder:\n    bitrate: 100\n    preset: fast\n    tune: film\n  kvs:\n    region: eu-north-1\n    credentials:\n      secret_access_key: yamlsecret\n      access_key_id: yamlkey\n"), 0o600)
	env, _, _ := streamEnv(map[string]string{"KGATE_CONFIG": path, "KGATE_STREAM_BITRATE": "200", "KGATE_STREAM_PRESET": "faster"})
	cf := streamFlags(newFlagSet())
	if err := cf.fs.Parse([]string{"--bitrate", "300", "--create-stream"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := cf.load(env)
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Stream.Encoder
	if e.Bitrate != 300 || e.Preset != "faster" || e.Tune != "film" || e.KeyIntMax != 45 || !cfg.Stream.KVS.CreateStream || cfg.Stream.KVS.Region != "eu-north-1" {
		t.Errorf("effective %+v create=%v region=%s", e, cfg.Stream.KVS.CreateStream, cfg.Stream.KVS.Region)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b, _ := config.Marshal(&cfg)
	if strings.Contains(string(b), "yamlsecret") || strings.Contains(string(b), "yamlkey") {
		t.Errorf("config print shows a key:\n%s", b)
	}
}

func TestStreamCommandStopsOnSignal(t *testing.T) {
	needEncoder(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(1500*time.Millisecond, cancel)
	env, _, stderr := streamEnv(nil)
	start := time.Now()
	code := Run(ctx, []string{"stream", "--input", "testsrc", "--width", "96", "--height", "64", "--realtime", "--mkv", filepath.Join(dir, "a.mkv")}, env)
	if code != 0 {
		t.Fatalf("exit %d after an interrupt\n%s", code, stderr)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("stopping took %s", el)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", filepath.Join(dir, "a.mkv")).Output()
	if err != nil || strings.TrimSpace(string(out)) == "0" {
		t.Errorf("the file written before the interrupt does not decode: %q %v", out, err)
	}
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("test", flag.ContinueOnError) }
