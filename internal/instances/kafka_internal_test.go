package instances

import (
	"testing"

	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafka"
)

// startKafka starts an embedded broker on a loopback port and a kgate
// client of it with the default settings, both closed at the test's end.
func startKafka(t *testing.T) (config.Config, *kafka.Client) {
	t.Helper()
	cfg := config.Default()
	br, err := broker.Start(t.TempDir(), broker.Listen("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Close() })
	kc, err := kafka.New(kafka.Options{Brokers: []string{br.Addr()}, Kafka: cfg.Kafka, AutoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	return cfg, kc
}
