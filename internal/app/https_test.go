package app_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPSClientCertificates(t *testing.T) {
	ca := testutil.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.crt")
	c, k := ca.Issue(t, "localhost", true)
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	writeFile(t, caFile, ca.PEM)
	g := secureGateway(t, func(cfg *config.Config) {
		cfg.Auth.HTTPS = config.HTTPS{Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile,
			ClientAuth: "optional", PrincipalFrom: "cn", ReloadInterval: config.Duration(50 * time.Millisecond)}
	})
	base := "https://" + g.Info.HTTPSAddr
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	clientWith := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
	}
	cc, ck := ca.Issue(t, "customer1", false)
	cert, err := tls.X509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	post := func(c *http.Client, topic string) response {
		req, _ := http.NewRequest("POST", base+"/topics/"+topic, strings.NewReader(seedBody))
		req.Header.Set("Content-Type", mtJSONv2)
		return send(t, c, req)
	}
	// The certificate's CN is the principal.
	if r := post(clientWith(cert), "customer1"); r.status != http.StatusOK {
		t.Fatalf("customer1 by certificate: %d %s", r.status, r.body)
	}
	if r := post(clientWith(cert), "customer2"); r.status != http.StatusForbidden {
		t.Errorf("customer1 by certificate to customer2: %d", r.status)
	}
	// Without a certificate: anonymous.
	if r := post(clientWith(), "customer1"); r.status != http.StatusUnauthorized {
		t.Errorf("no certificate: %d", r.status)
	}
	// A certificate from another CA does not get through the handshake.
	other := testutil.NewCA(t)
	oc, ok := other.Issue(t, "customer1", false)
	ocert, _ := tls.X509KeyPair(oc, ok)
	req, _ := http.NewRequest("GET", base+"/topics", nil)
	if _, err := clientWith(ocert).Do(req); err == nil {
		t.Error("a certificate from an unknown CA was accepted")
	}
	// HTTP Basic works on the HTTPS listener too.
	req, _ = http.NewRequest("POST", base+"/topics/customer2", strings.NewReader(seedBody))
	req.Header.Set("Content-Type", mtJSONv2)
	req.Header.Set("Authorization", basic("customer2"))
	if r := send(t, clientWith(), req); r.status != http.StatusOK {
		t.Errorf("Basic over HTTPS: %d %s", r.status, r.body)
	}

	// The server certificate reloads when its files change.
	serial := func() int64 {
		conn, err := tls.Dial("tcp", g.Info.HTTPSAddr, &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != serialOf(t, c) {
		t.Fatalf("serial %d", s)
	}
	c2, k2 := ca.Issue(t, "localhost", true)
	writeFile(t, keyFile, k2)
	writeFile(t, certFile, c2)
	eventually(t, "certificate reload", func() bool { return serial() == serialOf(t, c2) })
}

// TestPrincipalFromSAN uses the first DNS SAN instead of the CN.
func TestPrincipalFromSAN(t *testing.T) {
	ca := testutil.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key"), filepath.Join(dir, "ca.crt")
	c, k := ca.Issue(t, "localhost", true)
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	writeFile(t, caFile, ca.PEM)
	g := secureGateway(t, func(cfg *config.Config) {
		cfg.Auth.HTTPS = config.HTTPS{Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile,
			ClientAuth: "require", PrincipalFrom: "san_dns", ReloadInterval: config.Duration(time.Second)}
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	// CN "x", DNS SAN "customer1.example": the principal is the SAN,
	// whose own topic is customer1.example.
	cc, ck := ca.Issue(t, "customer1", false)
	cert, _ := tls.X509KeyPair(cc, ck)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	req, _ := http.NewRequest("POST", "https://"+g.Info.HTTPSAddr+"/topics/customer1.example", strings.NewReader(seedBody))
	req.Header.Set("Content-Type", mtJSONv2)
	if r := send(t, client, req); r.status != http.StatusOK {
		t.Errorf("SAN principal: %d %s", r.status, r.body)
	}
	// client_auth require: no certificate, no connection.
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ = http.NewRequest("GET", "https://"+g.Info.HTTPSAddr+"/healthz", nil)
	if resp, err := noCert.Do(req); err == nil {
		resp.Body.Close()
		t.Error("client_auth require accepted a client without a certificate")
	}
}

// TestKafkaPortThroughGateway: a gateway with users makes its embedded
// broker require SCRAM for the same users with the same rights; kgate's own
// superuser password may change between restarts.
func TestKafkaPortThroughGateway(t *testing.T) {
	users, perms := secureFiles(t)
	cfg := testutil.GatewayConfig(t)
	cfg.Auth.Users, cfg.Auth.Permissions = users, perms
	g := testutil.StartGatewayConfig(t, cfg)
	for _, u := range []string{"customer1", "customer2"} {
		if r := produceV2(t, g, u, "Authorization", basic(u)); r.status != http.StatusOK {
			t.Fatal(r.status)
		}
	}
	check := func(addr string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: "customer1", Pass: "password1"}.AsSha512Mechanism()),
			kgo.RecordDeliveryTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "customer1", Value: []byte("raw")}).FirstErr(); err != nil {
			t.Errorf("raw client to customer1: %v", err)
		}
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "customer2", Value: []byte("raw")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("raw client to customer2: %v", err)
		}
	}
	check(g.Info.BrokerAddr)
	g.Stop()
	// Restart with an explicit superuser password: the persisted one must
	// not lock kgate out of its own broker.
	cfg.Kafka.SASL = config.SASL{Mechanism: "SCRAM-SHA-256", Username: "kgate-admin", Password: "another-password-entirely"}
	g2 := testutil.StartGatewayConfig(t, cfg)
	if r := produceV2(t, g2, "customer1", "Authorization", seedAuth); r.status != http.StatusOK {
		t.Fatalf("after restart: %d %s", r.status, r.body)
	}
	check(g2.Info.BrokerAddr)
}

// serialOf returns the serial number of a PEM certificate.
func serialOf(t *testing.T, certPEM []byte) int64 {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber.Int64()
}
