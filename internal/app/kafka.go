package app

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafka"
)

// KafkaConn says where NewKafka's client connects and as whom.
type KafkaConn struct {
	Brokers []string
	// SASL is whom the client authenticates as (no mechanism: no SASL),
	// resolved by the caller: kafka.sasl for the workers and an external
	// cluster, kgate's superuser on a secured embedded broker.
	SASL kafka.Credentials
	// TLS, when set, replaces kafka.tls (kgate's own client of an
	// embedded broker whose Kafka port speaks TLS).
	TLS *tls.Config
	// Dial, when set, opens the connections (the embedded broker's Unix
	// socket).
	Dial func(ctx context.Context, network, host string) (net.Conn, error)
}

// NewKafka connects kgate's Kafka client for cfg (the gateway's and the
// workers' alike) to conn and returns it with its closer: the closer
// flushes the producer first, so that no acknowledged work is lost, then
// closes it.
func NewKafka(cfg config.Config, conn KafkaConn, autoCreate bool, logger *slog.Logger, hooks ...kgo.Hook) (*kafka.Client, func(), error) {
	// The kafka layer reads the credentials from its settings: give it
	// a copy of kafka.* that carries conn.SASL.
	k := cfg.Kafka
	k.SASL = config.SASL{Mechanism: conn.SASL.Mechanism, Username: conn.SASL.Username, Password: conn.SASL.Password}
	kc, err := kafka.New(kafka.Options{
		Brokers:           conn.Brokers,
		Kafka:             k,
		AutoCreate:        autoCreate,
		DefaultPartitions: int32(cfg.DefaultPartitions),
		Replication:       int16(cfg.DefaultReplicationFactor),
		Logger:            logger,
		Hooks:             hooks,
		TLS:               conn.TLS,
		Dial:              conn.Dial,
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
