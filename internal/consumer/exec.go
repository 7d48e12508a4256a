package consumer

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
)

// ExitMalformed is the exit status (sysexits' EX_DATAERR) by which an
// exec command says the record is malformed: it is dead-lettered at once
// instead of being retried.
const ExitMalformed = 65

// Exec is the exec handler: it runs a command per record with the record's
// value on stdin. The command's stdout, if not empty, is the output
// record. A non-zero exit is a failure (retried), except ExitMalformed.
//
// The command sees the record's coordinates in its environment
// (KGATE_TOPIC, KGATE_PARTITION, KGATE_OFFSET, KGATE_TIMESTAMP_MS,
// KGATE_KEY or, for a key that is not printable text, KGATE_KEY_BASE64,
// and KGATE_HEADER_<NAME> per header) and inherits kgate's environment
// minus every KGATE_* variable, which may hold secrets. It is safe for
// concurrent use.
type Exec struct {
	// Argv is the command and its arguments (no shell).
	Argv []string
	// Dir is the working directory ("" inherits kgate's).
	Dir string
	// Timeout bounds one run (config's handle.exec.timeout when zero); the
	// command's whole process group is killed when it passes.
	Timeout time.Duration
	// MaxOutput caps stdout (default 8 MiB); more is a failure.
	MaxOutput int
}

// timeout returns Timeout, or its default.
func (e *Exec) timeout() time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return config.DefaultHandle().Exec.Timeout.D()
}

// stderrInError is how much of a failed command's stderr its error keeps.
const stderrInError = 256

// Handle implements Handler.
func (e *Exec) Handle(ctx context.Context, r *kgo.Record) ([]Output, error) {
	if len(e.Argv) == 0 {
		return nil, Permanent(errors.New("exec: no command"))
	}
	timeout := e.timeout()
	max := e.MaxOutput
	if max <= 0 {
		max = 8 << 20
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Argv[0], e.Argv[1:]...)
	cmd.Dir = e.Dir
	cmd.Env = execEnv(r)
	cmd.Stdin = bytes.NewReader(r.Value)
	stdout := &cappedBuffer{max: max}
	stderr := &cappedBuffer{max: 4096, keepTail: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Kill the whole process group, not only the direct child, so a
	// shell's children do not keep running (and holding stdout open).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("exec %s: %w", e.Argv[0], ctx.Err())
	}
	if stdout.overflow {
		return nil, fmt.Errorf("exec %s: stdout exceeds %d bytes", e.Argv[0], max)
	}
	if err != nil {
		msg := fmt.Sprintf("exec %s: %v", e.Argv[0], err)
		if tail := strings.TrimSpace(truncateTail(stderr.String(), stderrInError)); tail != "" {
			msg += ": " + tail
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == ExitMalformed {
			return nil, Malformed(errors.New(msg))
		}
		// Anything else is retried, including a missing or
		// non-executable command: the operator may fix it.
		return nil, errors.New(msg)
	}
	if stdout.Len() == 0 {
		return nil, nil
	}
	return []Output{{Value: bytes.Clone(stdout.Bytes())}}, nil
}

func execEnv(r *kgo.Record) []string {
	env := make([]string, 0, len(os.Environ())+8)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KGATE_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"KGATE_TOPIC="+r.Topic,
		"KGATE_PARTITION="+strconv.Itoa(int(r.Partition)),
		"KGATE_OFFSET="+strconv.FormatInt(r.Offset, 10),
		"KGATE_TIMESTAMP_MS="+strconv.FormatInt(r.Timestamp.UnixMilli(), 10),
	)
	if r.Key != nil {
		if printable(r.Key) {
			env = append(env, "KGATE_KEY="+string(r.Key))
		} else {
			env = append(env, "KGATE_KEY_BASE64="+base64.StdEncoding.EncodeToString(r.Key))
		}
	}
	for _, h := range r.Headers {
		name := envName(h.Key)
		if name == "" || !printable(h.Value) {
			continue
		}
		env = append(env, "KGATE_HEADER_"+name+"="+string(h.Value))
	}
	return env
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// envName maps a header name to [A-Z0-9_]; "" when nothing is left.
func envName(s string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(s) {
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '-' || c == '_' || c == '.':
			b.WriteByte('_')
		}
	}
	return b.String()
}

// cappedBuffer keeps at most max bytes: the first ones, or with keepTail
// the last ones. (It has no ReadFrom, so io.Copy goes through Write.)
type cappedBuffer struct {
	buf      bytes.Buffer
	max      int
	keepTail bool
	overflow bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if c.keepTail {
		c.buf.Write(p)
		if over := c.buf.Len() - c.max; over > 0 {
			c.buf.Next(over)
		}
		return n, nil
	}
	if room := c.max - c.buf.Len(); len(p) > room {
		// Stop reading: the command gets EPIPE instead of running on.
		c.overflow = true
		c.buf.Write(p[:max(room, 0)])
		return 0, errOutputTooLarge
	}
	c.buf.Write(p)
	return n, nil
}

var errOutputTooLarge = errors.New("output too large")

func (c *cappedBuffer) Len() int       { return c.buf.Len() }
func (c *cappedBuffer) Bytes() []byte  { return c.buf.Bytes() }
func (c *cappedBuffer) String() string { return c.buf.String() }

func truncateTail(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	cut := len(s) - n
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return "..." + s[cut:]
}
