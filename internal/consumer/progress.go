package consumer

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress keeps a one-line status display on a terminal:
//
//	handled 1204 (38.5/s) · failed 3 · retried 2 · dead-lettered 1 · in flight 4 · lag 17 · partitions 6
//
// Log lines written through Writer appear above the status line. It is
// safe for concurrent use.
type Progress struct {
	out   io.Writer
	stats func() Stats

	mu   sync.Mutex // guards line and out writes
	line string
}

// NewProgress returns a display writing to out (a terminal).
func NewProgress(out io.Writer, stats func() Stats) *Progress {
	return &Progress{out: out, stats: stats}
}

// Writer returns a writer for log output that clears the status line
// before each write and draws it again after.
func (p *Progress) Writer() io.Writer { return progressWriter{p} }

type progressWriter struct{ p *Progress }

func (pw progressWriter) Write(b []byte) (int, error) {
	p := pw.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line != "" {
		io.WriteString(p.out, "\r\033[K")
	}
	n, err := p.out.Write(b)
	if p.line != "" {
		io.WriteString(p.out, p.line)
	}
	return n, err
}

// Run redraws the line every interval until ctx is done, then ends it
// with a newline.
func (p *Progress) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last := p.stats()
	lastAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			if p.line != "" {
				io.WriteString(p.out, "\n")
				p.line = ""
			}
			p.mu.Unlock()
			return
		case now := <-t.C:
			s := p.stats()
			rate := float64(s.Handled+s.DeadLettered-last.Handled-last.DeadLettered) / now.Sub(lastAt).Seconds()
			last, lastAt = s, now
			p.draw(FormatStats(s, rate))
		}
	}
}

func (p *Progress) draw(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line = line
	io.WriteString(p.out, "\r\033[K"+line)
}

// FormatStats renders s (and a rate of finished records per second) as
// the status line.
func FormatStats(s Stats, rate float64) string {
	return fmt.Sprintf("handled %d (%.1f/s) · failed %d · retried %d · dead-lettered %d · in flight %d · lag %d · partitions %d",
		s.Handled, rate, s.Failed, s.Retried, s.DeadLettered, s.InFlight, s.Lag, s.Partitions)
}
