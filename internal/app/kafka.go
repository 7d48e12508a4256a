package app

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafka"
)

// NewKafka connects kgate's Kafka client for cfg (the gateway's and the
// workers' alike) and returns it with its closer: the closer flushes the
// producer first, so that no acknowledged work is lost, then closes it.
func NewKafka(cfg config.Config, brokers []string, autoCreate bool, logger *slog.Logger, hooks ...kgo.Hook) (*kafka.Client, func(), error) {
	kc, err := kafka.New(kafka.Options{
		Brokers:           brokers,
		Kafka:             cfg.Kafka,
		AutoCreate:        autoCreate,
		DefaultPartitions: int32(cfg.DefaultPartitions),
		Replication:       int16(cfg.DefaultReplicationFactor),
		Logger:            logger,
		Hooks:             hooks,
	})
	if err != nil {
		return nil, nil, err
	}
	return kc, func() {
		fctx, cancel := context.WithTimeout(context.Background(), cfg.Kafka.ProduceTimeout.D())
		defer cancel()
		if err := kc.Flush(fctx); err != nil {
			logger.Warn("flushing producer", "err", err)
		}
		kc.Close()
	}, nil
}
