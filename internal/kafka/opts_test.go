package kafka_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/testutil"
)

// ping connects with ConnOpts(k) and checks the broker answers a
// metadata request (which needs SASL to have succeeded).
func ping(t *testing.T, addr string, k config.Kafka) error {
	t.Helper()
	opts, err := kafka.ConnOpts([]string{addr}, k, testutil.Logger())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.RetryTimeout(2*time.Second), kgo.RequestRetries(1))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := t.Context()
	return cl.Ping(ctx)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSASL(t *testing.T) {
	addr := testutil.StartBroker(t, broker.KfakeOpts(
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plainuser", "plainpw"),
		kfake.Superuser("SCRAM-SHA-256", "scram256", "pw256"),
		kfake.Superuser("SCRAM-SHA-512", "scram512", "pw512"),
	))
	base := config.Default().Kafka
	tests := []struct {
		name string
		sasl config.SASL
		ok   bool
	}{
		{"PLAIN", config.SASL{Mechanism: "PLAIN", Username: "plainuser", Password: "plainpw"}, true},
		{"SCRAM-SHA-256", config.SASL{Mechanism: "SCRAM-SHA-256", Username: "scram256", Password: "pw256"}, true},
		{"SCRAM-SHA-512", config.SASL{Mechanism: "SCRAM-SHA-512", Username: "scram512", Password: "pw512"}, true},
		{"password file", config.SASL{Mechanism: "scram_sha_512", Username: "scram512", PasswordFile: writeFile(t, "pw", "pw512\n")}, true},
		{"KastleX sasl file", config.SASL{File: writeFile(t, "sasl.yml", "username: scram256\npassword: pw256\nmechanism: scram_sha_256\n")}, true},
		{"KastleX sasl file, default plain", config.SASL{File: writeFile(t, "sasl2.yml", "username: plainuser\npassword: plainpw\n")}, true},
		{"wrong password", config.SASL{Mechanism: "SCRAM-SHA-512", Username: "scram512", Password: "nope"}, false},
		{"no SASL", config.SASL{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := base
			k.SASL = tt.sasl
			err := ping(t, addr, k)
			if tt.ok && err != nil {
				t.Errorf("ping: %v", err)
			}
			if !tt.ok && err == nil {
				t.Error("connected")
			}
		})
	}
	// A secret never shows in errors about the SASL file.
	bad := writeFile(t, "bad.yml", "username: u\npassword: hunter2-secret\nmechanism: gssapi\n")
	_, err := kafka.ResolveSASL(config.SASL{File: bad})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("ResolveSASL = %v", err)
	}
}

func TestTLS(t *testing.T) {
	ca := testutil.NewCA(t)
	leaf := func(cn string, server bool) (certPEM, keyPEM []byte) { return ca.Issue(t, cn, server) }
	sc, sk := leaf("broker", true)
	serverCert, _ := tls.X509KeyPair(sc, sk)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	// The broker requires a client certificate signed by the CA.
	addr := testutil.StartBroker(t, broker.KfakeOpts(kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
	})))
	caFile := writeFile(t, "ca.pem", string(ca.PEM))
	cc, ck := leaf("kgate", false)
	certFile, keyFile := writeFile(t, "c.pem", string(cc)), writeFile(t, "k.pem", string(ck))
	base := config.Default().Kafka
	tests := []struct {
		name string
		tls  config.TLS
		ok   bool
	}{
		{"CA and client certificate", config.TLS{Enabled: true, CAFile: caFile, CertFile: certFile, KeyFile: keyFile}, true},
		{"no client certificate", config.TLS{Enabled: true, CAFile: caFile}, false},
		{"unknown CA", config.TLS{Enabled: true, CertFile: certFile, KeyFile: keyFile}, false},
		{"plaintext", config.TLS{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := base
			k.TLS = tt.tls
			err := ping(t, addr, k)
			if tt.ok && err != nil {
				t.Errorf("ping: %v", err)
			}
			if !tt.ok && err == nil {
				t.Error("connected")
			}
		})
	}
	if _, err := kafka.TLSConfig(config.TLS{CAFile: writeFile(t, "empty.pem", "not a pem")}); err == nil {
		t.Error("a CA file without certificates was accepted")
	}
}
