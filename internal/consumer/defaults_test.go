package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
)

// Options left zero take the defaults of kgate handle's configuration
// (config.DefaultHandle and Default), which are written once, there.
func TestZeroOptionsTakeConfigDefaults(t *testing.T) {
	kc, _ := testKafka(t)
	rt, err := New(Options{Client: kc, Topics: []string{"in"}, Group: "g", DLQTopic: "in.dlq",
		Handler: HandlerFunc(func(context.Context, *kgo.Record) ([]Output, error) { return nil, nil })})
	if err != nil {
		t.Fatal(err)
	}
	d, top := config.DefaultHandle(), config.Default()
	type defaults struct {
		Concurrency, MaxAttempts, MaxQueued                     int
		BackoffInitial, BackoffMax, HandlerTimeout, RevokeGrace time.Duration
		SessionTimeout, RebalanceTimeout                        time.Duration
		Partitions                                              int32
		Replication                                             int16
	}
	o := rt.o
	got := defaults{o.Concurrency, o.MaxAttempts, o.MaxQueued, o.Backoff.Initial, o.Backoff.Max, o.HandlerTimeout, o.RevokeGrace,
		o.SessionTimeout, o.RebalanceTimeout, o.Partitions, o.Replication}
	want := defaults{d.Concurrency, d.MaxAttempts, d.MaxQueued, d.BackoffInitial.D(), d.BackoffMax.D(), d.HandlerTimeout.D(), d.RevokeGrace.D(),
		d.SessionTimeout.D(), d.RebalanceTimeout.D(), int32(top.DefaultPartitions), int16(top.DefaultReplicationFactor)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("zero options (-config's defaults +New's):\n%s", diff)
	}
	if got, want := (Backoff{}).withDefaults(), (Backoff{Initial: d.BackoffInitial.D(), Max: d.BackoffMax.D()}); got != want {
		t.Errorf("zero Backoff = %+v, want config's %+v", got, want)
	}
	wh, err := NewWebhook(WebhookOptions{URL: "http://127.0.0.1:1/", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if wh.client.Timeout != d.Webhook.Timeout.D() {
		t.Errorf("webhook timeout %s, want config's %s", wh.client.Timeout, d.Webhook.Timeout)
	}
	if got := (&Exec{}).timeout(); got != d.Exec.Timeout.D() {
		t.Errorf("exec timeout %s, want config's %s", got, d.Exec.Timeout)
	}
}
