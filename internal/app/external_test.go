package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kgate/kgate/internal/broker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// TestExternalBrokerSASL fronts a separate broker that requires SASL, for
// each mechanism; a wrong password makes the gateway unready, never
// leaking the password.
func TestExternalBrokerSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			addr := testutil.StartBroker(t, broker.KfakeOpts(kfake.EnableSASL(), kfake.Superuser(mech, "gw", "s3cret-pw")))
			g := testutil.StartGateway(t, func(c *config.Config) {
				c.Brokers = []string{addr}
				yes := true
				c.AutoCreateTopics = &yes
				c.Kafka.SASL = config.SASL{Mechanism: mech, Username: "gw", Password: "s3cret-pw"}
			})
			if code, body := post(t, g.URL+"/topics/sasl", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1}]}`); code != 200 || !strings.Contains(body, `"offset":0`) {
				t.Fatalf("produce over SASL %s: %d %s", mech, code, body)
			}
			bad := testutil.StartGateway(t, func(c *config.Config) {
				c.Brokers = []string{addr}
				c.Kafka.SASL = config.SASL{Mechanism: mech, Username: "gw", Password: "wrong-pw"}
			})
			code, body := get(t, bad.URL+"/readyz")
			if code != 503 {
				t.Fatalf("readyz with a wrong password: %d %s", code, body)
			}
			if strings.Contains(body, "wrong-pw") {
				t.Fatal("the password reached an answer")
			}
		})
	}
}

// TestExternalBrokerSASLFile reads KastleX's SASL file format.
func TestExternalBrokerSASLFile(t *testing.T) {
	addr := testutil.StartBroker(t, broker.KfakeOpts(kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "user", "s3cr3t")))
	f := filepath.Join(t.TempDir(), "sasl.yml")
	if err := os.WriteFile(f, []byte("username: user\npassword: s3cr3t\nmechanism: scram_sha_512\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := testutil.StartGateway(t, func(c *config.Config) {
		c.Brokers = []string{addr}
		c.Kafka.SASL = config.SASL{File: f}
	})
	if code, body := get(t, g.URL+"/readyz"); code != 200 {
		t.Fatalf("readyz with the KastleX SASL file: %d %s", code, body)
	}
}

// TestExternalBrokerTLS fronts a broker that only speaks TLS, verifying
// its certificate against a CA file.
func TestExternalBrokerTLS(t *testing.T) {
	dir := t.TempDir()
	serverCert, caFile := selfSigned(t, dir)
	addr := testutil.StartBroker(t, broker.KfakeOpts(kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12})))
	g := testutil.StartGateway(t, func(c *config.Config) {
		c.Brokers = []string{addr}
		yes := true
		c.AutoCreateTopics = &yes
		c.Kafka.TLS = config.TLS{Enabled: true, CAFile: caFile}
	})
	if code, body := post(t, g.URL+"/topics/tls", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1}]}`); code != 200 || !strings.Contains(body, `"offset":0`) {
		t.Fatalf("produce over TLS: %d %s", code, body)
	}
	// Without the CA the broker is not trusted.
	untrusting := testutil.StartGateway(t, func(c *config.Config) {
		c.Brokers = []string{addr}
		c.Kafka.TLS = config.TLS{Enabled: true}
	})
	if code, _ := get(t, untrusting.URL+"/readyz"); code != 503 {
		t.Fatalf("readyz trusting an unknown CA: %d", code)
	}
}

// selfSigned makes a CA-signed certificate for 127.0.0.1 and returns it
// with the CA's PEM file.
func selfSigned(t *testing.T, dir string) (tls.Certificate, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}
