// Package kastlex serves KastleX's HTTP API (v1 and v2) under /api/v1 and
// /api/v2: produce one message per request with the body as the value,
// fetch from a partition at an offset (JSON or the raw value), offsets,
// topics, brokers, under-replicated partitions and consumer groups. See
// reference/kastlex.md and seed 002 for the contract it keeps. KastleX's
// admin routes (/login, /admin/...) belong to the authentication layer.
package kastlex

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/httpapi"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/metrics"
	"github.com/kgate/kgate/internal/record"
)

// Deps are what the KastleX API needs.
type Deps struct {
	Kafka   *kafka.Client
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// MaxFetchBytes caps max_bytes (KastleX's default is 100 MB).
	MaxFetchBytes int64
	// SecurityProtocol is how kgate reaches the brokers (PLAINTEXT, SSL,
	// SASL_PLAINTEXT, SASL_SSL); brokers' endpoints are listed with it.
	SecurityProtocol string
	// Visible reports whether the caller may see a topic's partitions
	// and offsets in a group's description (its fetch, show_topic or
	// show_offsets rights); nil shows every topic.
	Visible func(ctx context.Context, topic string) bool
}

type api struct {
	kc       *kafka.Client
	m        *metrics.Metrics
	logger   *slog.Logger
	maxFetch int64
	protocol string
	visible  func(ctx context.Context, topic string) bool
}

const (
	mtJSON   = "application/json"
	mtBinary = "application/binary"
)

func newAPI(d Deps) *api {
	a := &api{kc: d.Kafka, m: d.Metrics, logger: d.Logger, maxFetch: d.MaxFetchBytes, protocol: d.SecurityProtocol, visible: d.Visible}
	if a.visible == nil {
		a.visible = func(context.Context, string) bool { return true }
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if a.maxFetch <= 0 {
		a.maxFetch = int64(config.Default().Consumers.MaxBytes)
	}
	if a.protocol == "" {
		a.protocol = "PLAINTEXT"
	}
	return a
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	httpapi.WriteJSON(w, status, mtJSON, v)
	return nil
}

// partitionParam parses {partition}: a partition number or 404.
func partitionParam(r *http.Request) (int32, error) {
	p, err := strconv.ParseInt(r.PathValue("partition"), 10, 32)
	if err != nil || p < 0 {
		return 0, httpapi.ErrPartitionNotFound.Msg("Partition %s not found: partitions are numbers from 0.", truncate(r.PathValue("partition"), 32))
	}
	return int32(p), nil
}

// topicParam checks {topic}: a name Kafka cannot have is a missing topic.
func topicParam(r *http.Request) (string, error) {
	t := r.PathValue("topic")
	if !kafka.ValidTopic(t) {
		return "", httpapi.ErrTopicNotFound.Msg("Topic %s not found.", truncate(t, 255))
	}
	return t, nil
}

// kafkaError maps a Kafka-layer error, naming the topic when it is
// missing.
func kafkaError(err error, topic string) error {
	he := httpapi.FromKafka(err)
	if errors.Is(he, httpapi.ErrTopicNotFound) || errors.Is(he, httpapi.ErrUnknownTopicPart) {
		return httpapi.ErrTopicNotFound.Msg("Topic %s not found.", truncate(topic, 255)).Wrap(err)
	}
	return he
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// text is how KastleX shows bytes in JSON: the text when it is valid
// UTF-8, else base64 with an "<field>_encoding":"base64" beside it.
func text(b []byte) (string, bool) {
	s, isBase64 := record.Text(b)
	return s, !isBase64
}
