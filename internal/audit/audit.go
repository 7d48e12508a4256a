// Package audit writes kgate's audit trail: every authentication failure,
// authorization denial, login, revocation and policy reload becomes one
// structured record, logged and produced to an audit topic keyed by
// principal. Records have fixed fields and never carry a secret: no
// password, token, header or request body, and no attempted user name that
// is not a known user (people type passwords into user name fields).
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/kafka"
)

// Events.
const (
	AuthFailure  = "auth_failure"
	Denied       = "denied"
	Login        = "login"
	LoginFailure = "login_failure"
	Revoke       = "revoke"
	Reload       = "reload"
	ReloadFailed = "reload_failed"
)

// UnknownPrincipal stands for a user name that is not in the users file.
const UnknownPrincipal = "(unknown)"

// Record is one audit event.
type Record struct {
	Time      time.Time `json:"time"`
	Event     string    `json:"event"`
	Principal string    `json:"principal,omitempty"`
	// AuthMethod is how the principal authenticated (or tried to).
	AuthMethod string `json:"auth_method,omitempty"`
	ClientIP   string `json:"client_ip,omitempty"`
	RequestID  string `json:"request_id,omitempty"`
	Route      string `json:"route,omitempty"`
	Action     string `json:"action,omitempty"`
	Resource   string `json:"resource,omitempty"`
	// Reason says why a check failed or what a reload did.
	Reason string `json:"reason,omitempty"`
	// Target is the user or token id a revocation named.
	Target  string `json:"target,omitempty"`
	TokenID string `json:"jti,omitempty"`
	Node    string `json:"node,omitempty"`
}

// Log writes audit records. Its methods are safe for concurrent use; a nil
// *Log discards records.
type Log struct {
	kc     *kafka.Client // nil: log only
	topic  string
	node   string
	logger *slog.Logger

	records *prometheus.CounterVec
	dropped prometheus.Counter
}

// New returns an audit log writing to topic through kc (nil: to the log
// only), with its counters registered on reg.
func New(kc *kafka.Client, topic, node string, logger *slog.Logger, reg prometheus.Registerer) *Log {
	l := &Log{
		kc: kc, topic: topic, node: node, logger: logger.With("component", "audit"),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_audit_records_total", Help: "Audit records by event.",
		}, []string{"event"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kgate_audit_dropped_total", Help: "Audit records that could not be written to the audit topic (they are still logged).",
		}),
	}
	if reg != nil {
		reg.MustRegister(l.records, l.dropped)
	}
	return l
}

// Open creates the audit topic if it is missing.
func (l *Log) Open(ctx context.Context) error {
	if l == nil || l.kc == nil {
		return nil
	}
	if err := l.kc.CreateTopicIfMissing(ctx, l.topic, 1, -1, nil); err != nil {
		return fmt.Errorf("creating audit topic %q: %w", l.topic, err)
	}
	return nil
}

// Write records r: it is logged at once and produced without blocking the
// caller (a full producer buffer drops the Kafka copy and counts it).
func (l *Log) Write(ctx context.Context, r Record) {
	if l == nil {
		return
	}
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	if r.RequestID == "" {
		r.RequestID = RequestID(ctx)
	}
	r.Node = l.node
	l.records.WithLabelValues(r.Event).Inc()
	level := slog.LevelInfo
	switch r.Event {
	case AuthFailure, Denied, LoginFailure, ReloadFailed:
		level = slog.LevelWarn
	}
	l.logger.LogAttrs(ctx, level, "audit",
		slog.String("event", r.Event),
		slog.String("principal", r.Principal),
		slog.String("auth_method", r.AuthMethod),
		slog.String("client_ip", r.ClientIP),
		slog.String("request_id", r.RequestID),
		slog.String("route", r.Route),
		slog.String("action", r.Action),
		slog.String("resource", r.Resource),
		slog.String("reason", r.Reason),
		slog.String("target", r.Target),
		slog.String("jti", r.TokenID),
	)
	if l.kc == nil {
		return
	}
	v, err := json.Marshal(r)
	if err != nil {
		l.dropped.Inc()
		return
	}
	key := r.Principal
	if key == "" {
		key = "-"
	}
	rec := &kgo.Record{Topic: l.topic, Partition: 0, Key: []byte(key), Value: v}
	l.kc.Kgo().TryProduce(context.WithoutCancel(ctx), rec, func(_ *kgo.Record, err error) {
		if err != nil {
			l.dropped.Inc()
			l.logger.Warn("audit record not written to topic", "topic", l.topic, "event", r.Event, "err", err)
		}
	})
}
