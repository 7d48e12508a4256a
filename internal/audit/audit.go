// Package audit writes kgate's audit trail: every authentication failure,
// authorization denial, login, revocation and policy reload becomes one
// structured record, logged and produced to an audit topic keyed by
// principal. Records have fixed fields and never carry a secret: no
// password, token, header or request body, and no attempted user name that
// is not a known user (people type passwords into user name fields).
//
// A flood of refusals must not flood the trail: with Aggregate, repeated
// refusals of one principal from one address for one reason are folded
// (the first is written at once, the rest of the interval as one record
// with their count), and MaxBytes caps the topic by size as well as by
// the broker's retention time.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
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
	// APIKeyCreate is an API key made (never the key itself).
	APIKeyCreate = "apikey_create"
	Reload       = "reload"
	ReloadFailed = "reload_failed"
	// Disconnect is a long-lived connection (the Kafka port's) closed
	// because its principal no longer stands.
	Disconnect = "disconnect"
	// SchemaChange is a change to the schema registry: a registration, a
	// deletion, a compatibility level or mode set or removed.
	SchemaChange = "schema_change"
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
	// Count, on a summary of folded refusals (see Aggregate), is how
	// many records like this one there were since Since that were not
	// written one by one; route, action and resource are the last one's.
	Count int64     `json:"count,omitempty"`
	Since time.Time `json:"since,omitzero"`
}

// Log writes audit records. Its methods are safe for concurrent use; a nil
// *Log discards records.
type Log struct {
	kc     *kafka.Client // nil: log only
	topic  string
	node   string
	logger *slog.Logger

	maxBytes int64
	agg      *aggregator // nil: every record is written

	records *prometheus.CounterVec
	dropped prometheus.Counter
	folded  prometheus.Counter
}

// Opt configures New.
type Opt func(*Log)

// Aggregate folds repeated refusals (auth_failure, denied,
// login_failure) with the same event, principal, method, client address
// and reason: the first is written at once, those that follow within
// the interval are counted and written as one summary record at its end
// (Run writes them; Write does too when it finds the interval over). A
// key that stays busy gets one summary per interval. The default, or an
// interval of 0, writes every record.
func Aggregate(interval time.Duration) Opt {
	return func(l *Log) {
		if interval > 0 {
			l.agg = newAggregator(interval)
		}
	}
}

// MaxBytes caps the audit topic's size (retention.bytes), overriding the
// broker's default (no cap): Open creates the topic with it, and sets it
// on an existing topic whose value differs.
func MaxBytes(n int64) Opt { return func(l *Log) { l.maxBytes = n } }

// New returns an audit log writing to topic through kc (nil: to the log
// only), with its counters registered on reg.
func New(kc *kafka.Client, topic, node string, logger *slog.Logger, reg prometheus.Registerer, opts ...Opt) *Log {
	l := &Log{
		kc: kc, topic: topic, node: node, logger: logger.With("component", "audit"),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgate_audit_records_total", Help: "Audit records by event.",
		}, []string{"event"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kgate_audit_dropped_total", Help: "Audit records that could not be written to the audit topic (they are still logged).",
		}),
		folded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kgate_audit_folded_total", Help: "Repeated refusals folded into summary records instead of written one by one.",
		}),
	}
	for _, o := range opts {
		o(l)
	}
	if reg != nil {
		reg.MustRegister(l.records, l.dropped, l.folded)
	}
	return l
}

// Open creates the audit topic if it is missing, capped by MaxBytes; an
// existing topic gets the cap if its retention.bytes differs (when kgate
// may not alter it, that is logged and the topic used as it is).
func (l *Log) Open(ctx context.Context) error {
	if l == nil || l.kc == nil {
		return nil
	}
	var configs map[string]*string
	want := strconv.FormatInt(l.maxBytes, 10)
	if l.maxBytes > 0 {
		configs = map[string]*string{"retention.bytes": &want}
	}
	err := l.kc.CreateTopic(ctx, l.topic, 1, -1, configs)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, kerr.TopicAlreadyExists):
		return fmt.Errorf("creating audit topic %q: %w", l.topic, err)
	case l.maxBytes > 0:
		if err := l.capTopic(ctx, want); err != nil {
			l.logger.Warn("the audit topic's size is not capped", "topic", l.topic, "retention_bytes", want, "err", err)
		}
	}
	return nil
}

// capTopic sets retention.bytes on the existing audit topic.
func (l *Log) capTopic(ctx context.Context, want string) error {
	adm := l.kc.Admin()
	rcs, err := adm.DescribeTopicConfigs(ctx, l.topic)
	if err != nil {
		return err
	}
	rc, err := rcs.On(l.topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return err
	}
	have := ""
	for _, c := range rc.Configs {
		if c.Key == "retention.bytes" {
			have = c.MaybeValue()
		}
	}
	if have == want {
		return nil
	}
	res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: &want}}, l.topic)
	if err == nil {
		_, err = res.On(l.topic, nil)
	}
	if err == nil {
		for _, r := range res {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		return err
	}
	l.logger.Info("audit topic capped", "topic", l.topic, "retention_bytes", want, "was", have)
	return nil
}

// Run writes the summaries of folded refusals at the end of each
// interval until ctx is done, and once more then; records written after
// that are written one by one. Without Aggregate it only waits.
func (l *Log) Run(ctx context.Context) error {
	if l == nil || l.agg == nil {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(l.agg.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			for _, s := range l.agg.close(time.Now()) {
				l.write(context.Background(), s)
			}
			return nil
		case <-t.C:
			for _, s := range l.agg.flush(time.Now(), false) {
				l.write(context.Background(), s)
			}
		}
	}
}

// Write records r: it is logged at once and produced without blocking the
// caller (a full producer buffer drops the Kafka copy and counts it),
// unless it repeats a refusal that Aggregate folds.
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
	if l.agg != nil {
		write, summaries := l.agg.fold(r, time.Now())
		for _, s := range summaries {
			l.write(ctx, s)
		}
		if !write {
			l.folded.Inc()
			return
		}
	}
	l.write(ctx, r)
}

func (l *Log) write(ctx context.Context, r Record) {
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
		slog.Int64("count", r.Count),
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
