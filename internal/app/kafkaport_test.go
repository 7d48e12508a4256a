package app_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// kafkaConn is one raw Kafka connection, for tests that need to see
// exactly what one connection gets: franz-go's SCRAM client does the
// SASL exchange, kmsg encodes the requests.
type kafkaConn struct {
	net.Conn
	corr int32
	fmt  *kmsg.RequestFormatter
}

// dialKafka connects to addr from the loopback address from (empty: the
// system's choice).
func dialKafka(t testing.TB, addr, from string) *kafkaConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dialing %s from %s: %v", addr, from, err)
	}
	t.Cleanup(func() { c.Close() })
	return &kafkaConn{Conn: c, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("kgate-test"))}
}

// roundTrip sends req and reads its response (io.EOF and the like when
// the other side closed the connection instead of answering).
func (c *kafkaConn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	c.corr++
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := c.Write(c.fmt.AppendRequest(nil, req, c.corr)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != c.corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, c.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		n, used := binary.Uvarint(body)
		if used <= 0 || n != 0 {
			return nil, errors.New("unexpected response header tags")
		}
		body = body[used:]
	}
	return resp, resp.ReadFrom(body)
}

// saslError is a SaslAuthenticate answered with an error code.
type saslError struct {
	code int16
	msg  string
}

func (e *saslError) Error() string { return fmt.Sprintf("SASL error %d: %s", e.code, e.msg) }

// scramLogin authenticates c with SCRAM-SHA-512 (SaslAuthenticate v1). It
// returns nil once authenticated, a *saslError when the server answered
// with an error, or the I/O error of a connection closed on the attempt.
func (c *kafkaConn) scramLogin(user, password string) error {
	return c.saslLogin(scram.Auth{User: user, Pass: password}.AsSha512Mechanism())
}

// saslLogin authenticates c with m, as scramLogin.
func (c *kafkaConn) saslLogin(m sasl.Mechanism) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version = 1
	hs.Mechanism = m.Name()
	r, err := c.roundTrip(hs)
	if err != nil {
		return err
	}
	if code := r.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
		return &saslError{code: code, msg: "handshake: " + strings.Join(r.(*kmsg.SASLHandshakeResponse).SupportedMechanisms, ",")}
	}
	sess, msg, err := m.Authenticate(context.Background(), c.RemoteAddr().String())
	if err != nil {
		return err
	}
	for {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version = 1
		req.SASLAuthBytes = msg
		r, err := c.roundTrip(req)
		if err != nil {
			return err
		}
		resp := r.(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != 0 {
			e := &saslError{code: resp.ErrorCode}
			if resp.ErrorMessage != nil {
				e.msg = *resp.ErrorMessage
			}
			return e
		}
		done, next, err := sess.Challenge(resp.SASLAuthBytes)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		msg = next
	}
}

// metadata sends an authenticated request on c.
func (c *kafkaConn) metadata() error {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	_, err := c.roundTrip(req)
	return err
}

// kafkaClient is a franz-go client of the gateway's Kafka port as user,
// connecting from the loopback address from.
func kafkaClient(t testing.TB, g *testutil.Gateway, from, user, password string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(g.Info.BrokerAddr), kgo.Dialer(d.DialContext),
		kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()),
		kgo.RetryTimeout(3 * time.Second), kgo.RecordDeliveryTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// auditRecords reads the audit topic (as kgate's superuser) until match
// has returned true for want records (want < 0: until done, if given,
// returns true) or wait has passed, and returns the matching records.
func auditRecords(t testing.TB, g *testutil.Gateway, wait time.Duration, want int, match func(map[string]any) bool, done ...func() bool) []map[string]any {
	t.Helper()
	cl := kafkaSuperuser(t, g, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{g.Config.Auth.Audit.Topic: {0: kgo.NewOffset().AtStart()}}))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	var out []map[string]any
	for ctx.Err() == nil && (want == 0 || want > 0 && len(out) < want || want < 0 && (len(done) == 0 || !done[0]())) {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			var m map[string]any
			if err := json.Unmarshal(r.Value, &m); err != nil {
				t.Errorf("audit record %s: %v", r.Value, err)
				return
			}
			if match(m) {
				out = append(out, m)
			}
		})
	}
	return out
}

// kafkaSuperuser is a client of the gateway's Kafka port as kgate's
// superuser (whose password kgate generated into the data directory).
func kafkaSuperuser(t testing.TB, g *testutil.Gateway, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	pw := g.Config.Kafka.SASL.Password.Reveal() // kafka.sasl's, when set, is the superuser's
	if pw == "" {
		secret, err := os.ReadFile(filepath.Join(g.Config.DataDir, "broker-superuser.secret"))
		if err != nil {
			t.Fatal(err)
		}
		pw = strings.TrimSpace(string(secret))
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(g.Info.BrokerAddr),
		kgo.SASL(scram.Auth{User: "kgate", Pass: pw}.AsSha512Mechanism())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// secureKafkaGateway is a secure gateway whose failure limits are low
// enough to reach in a test.
func secureKafkaGateway(t *testing.T, mutate func(c *config.Config)) *testutil.Gateway {
	t.Helper()
	return secureGateway(t, func(c *config.Config) {
		c.Auth.FailuresPerSecond = 1
		c.Auth.FailureBurst = 5
		if mutate != nil {
			mutate(c)
		}
	})
}

// TestFinding11KafkaPortPasswordGuessingLimited: SCRAM guesses on the
// Kafka port are limited per client address like HTTP logins: after the
// burst, the guard answers SASL_AUTHENTICATION_FAILED at once without
// the broker seeing the attempt, every failure and refusal is audited
// (never with the password), and a correct login from another address
// still works.
func TestFinding11KafkaPortPasswordGuessingLimited(t *testing.T) {
	g := secureKafkaGateway(t, nil)
	const guesses = 200
	const wrong = "guess-Zq8-not-the-password"
	refused, failed := 0, 0
	start := time.Now()
	for i := range guesses {
		c := dialKafka(t, g.Info.BrokerAddr, "127.0.0.1")
		err := c.scramLogin("customer1", fmt.Sprintf("%s-%d", wrong, i))
		c.Close()
		var se *saslError
		switch {
		case err == nil:
			t.Fatalf("guess %d authenticated", i)
		case errors.As(err, &se) && se.code == kerr.SaslAuthenticationFailed.Code && strings.Contains(se.msg, "too many failed authentications"):
			refused++
		default:
			failed++
		}
	}
	took := time.Since(start)
	t.Logf("%d wrong SCRAM guesses in %v: %d failed at the broker, %d refused by the guard", guesses, took.Round(time.Millisecond), failed, refused)
	// burst 5 plus 1/s refill while guessing
	if maxFailed := 5 + int(took.Seconds()) + 2; failed > maxFailed {
		t.Errorf("%d guesses reached the broker, want at most %d", failed, maxFailed)
	}
	if refused < guesses-20 {
		t.Errorf("only %d of %d guesses refused", refused, guesses)
	}
	// The right password from the limited address is refused too...
	c := dialKafka(t, g.Info.BrokerAddr, "127.0.0.1")
	if err := c.scramLogin("customer1", "password1"); err == nil {
		t.Error("the limited address authenticated")
	}
	// Failing as kgate's own user (its password is generated) locks
	// nothing: kgate's connections keep working, even from the limited
	// address (the audit is read as kgate from it below).
	for range 10 {
		_ = dialKafka(t, g.Info.BrokerAddr, "127.0.0.1").scramLogin("kgate", "wrong")
	}
	// ... but from another address it works, with franz-go's client.
	if r := produceV2(t, g, "customer1", "Authorization", seedAuth); r.status != 200 { // creates the topic
		t.Fatalf("produce: %d %s", r.status, r.body)
	}
	cl := kafkaClient(t, g, "127.0.0.2", "customer1", "password1")
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "customer1", Value: []byte("v")}).FirstErr(); err != nil {
		t.Errorf("customer1 from 127.0.0.2: %v", err)
	}
	recs := auditRecords(t, g, 10*time.Second, 2, func(m map[string]any) bool {
		return m["event"] == "auth_failure" && m["auth_method"] == "kafka_sasl" && m["principal"] != "kgate"
	})
	var reasons []string
	for _, m := range recs {
		reasons = append(reasons, fmt.Sprint(m["principal"], ": ", m["reason"], " from ", m["client_ip"]))
		if m["principal"] != "customer1" || m["client_ip"] != "127.0.0.1" {
			t.Errorf("audit record %v", m)
		}
		b, _ := json.Marshal(m)
		if strings.Contains(string(b), wrong) {
			t.Errorf("the audit record holds the guessed password: %s", b)
		}
	}
	if len(recs) < 2 {
		t.Errorf("want audit records of the failures and of the refusals, got %q", reasons)
	}
}

// TestFinding11KafkaPortPerUserFailureLimit: guesses for one user spread
// over many addresses are limited per user, but an address that logged
// in as the user before keeps working.
func TestFinding11KafkaPortPerUserFailureLimit(t *testing.T) {
	g := secureKafkaGateway(t, func(c *config.Config) {
		c.Auth.FailureBurst = 3
		c.Broker.UserFailuresPerSecond = 0.5
		c.Broker.UserFailureBurst = 10
	})
	// customer2 works from 127.0.0.9 before the attack.
	if err := dialKafka(t, g.Info.BrokerAddr, "127.0.0.9").scramLogin("customer2", "password2"); err != nil {
		t.Fatalf("customer2 before the attack: %v", err)
	}
	refused := 0
	for i := range 40 {
		from := fmt.Sprintf("127.0.1.%d", 1+i/3) // 3 guesses an address: under its limit
		err := dialKafka(t, g.Info.BrokerAddr, from).scramLogin("customer2", "wrong")
		var se *saslError
		if errors.As(err, &se) && strings.Contains(se.msg, "too many failed authentications") {
			refused++
		}
	}
	if refused < 20 {
		t.Errorf("%d of 40 guesses from 14 addresses refused, want the per-user limit to refuse most", refused)
	}
	if err := dialKafka(t, g.Info.BrokerAddr, "127.0.2.1").scramLogin("customer2", "password2"); err == nil {
		t.Error("customer2 authenticated from a new address while over its failure limit")
	}
	if err := dialKafka(t, g.Info.BrokerAddr, "127.0.0.9").scramLogin("customer2", "password2"); err != nil {
		t.Errorf("customer2 from the address it used before: %v", err)
	}
	if err := dialKafka(t, g.Info.BrokerAddr, "127.0.2.2").scramLogin("customer1", "password1"); err != nil {
		t.Errorf("another user: %v", err)
	}
}

// TestFinding11KcatRefusedAfterLimit: librdkafka shows the guard's
// message.
func TestFinding11KcatRefusedAfterLimit(t *testing.T) {
	kcat := testutil.RequireTool(t, "kcat")
	g := secureKafkaGateway(t, func(c *config.Config) { c.Auth.FailuresPerSecond = 0.01 }) // kcat retries: no refill meanwhile
	for range 10 {
		_ = dialKafka(t, g.Info.BrokerAddr, "127.0.0.1").scramLogin("customer1", "wrong")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	outb, err := exec.CommandContext(ctx, kcat, "-b", g.Info.BrokerAddr, "-L", "-m", "3",
		"-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-512",
		"-X", "sasl.username=customer1", "-X", "sasl.password=password1").CombinedOutput()
	out := string(outb)
	if err == nil {
		t.Fatalf("kcat listed metadata from a limited address:\n%s", out)
	}
	if !strings.Contains(out, "too many failed authentications") {
		t.Errorf("kcat does not show why:\n%s", out)
	}
}

// TestFinding3KafkaPortConnectionsFollowChanges: open Kafka-port
// connections of a user who is deleted, whose SCRAM credentials change
// or who may no longer connect from its address are closed within 1 s
// of the reload; other users' connections and kgate's own stay open.
func TestFinding3KafkaPortConnectionsFollowChanges(t *testing.T) {
	users, err := os.ReadFile(filepath.Join("testdata", "users.yml"))
	if err != nil {
		t.Fatal(err)
	}
	perms, err := os.ReadFile(filepath.Join("testdata", "permissions.yml"))
	if err != nil {
		t.Fatal(err)
	}
	const c1SCRAM512 = "MBYZVH07a65AmKOsCtNqEsbdY9XAJPYVp4UlM27fCWhWLi7L6MPAdOkRP7FzrQeVMqsiJ+tsHuqX9per2fPTSQ=="
	tests := []struct {
		name         string
		users, perms string
	}{
		{"user deleted", strings.Replace(string(users), "customer1:", "customer1-gone:", 1), string(perms)},
		{"SCRAM credentials changed", strings.Replace(string(users), c1SCRAM512, strings.Replace(c1SCRAM512, "MBYZ", "ABYZ", 1), 1), string(perms)},
		{"address no longer allowed", string(users), string(perms) + "customer1:\n  cidrs: [10.0.0.0/8]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := secureKafkaGateway(t, nil)
			c1 := dialKafka(t, g.Info.BrokerAddr, "127.0.0.1")
			c2 := dialKafka(t, g.Info.BrokerAddr, "127.0.0.1")
			for _, c := range []struct {
				conn     *kafkaConn
				user, pw string
			}{{c1, "customer1", "password1"}, {c2, "customer2", "password2"}} {
				if err := c.conn.scramLogin(c.user, c.pw); err != nil {
					t.Fatalf("%s: %v", c.user, err)
				}
				if err := c.conn.metadata(); err != nil {
					t.Fatalf("%s metadata: %v", c.user, err)
				}
			}
			if err := os.WriteFile(g.Config.Auth.Users, []byte(tt.users), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(g.Config.Auth.Permissions, []byte(tt.perms), 0o600); err != nil {
				t.Fatal(err)
			}
			if r := do(t, "POST", g.URL+"/admin/reload", "", "Authorization", basic("ops")); r.status != 200 {
				t.Fatalf("reload: %d %s", r.status, r.body)
			}
			reloaded := time.Now()
			_ = c1.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, err := c1.Read(make([]byte, 1))
			if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("customer1's connection still open 3s after the reload (%v)", err)
			}
			took := time.Since(reloaded)
			t.Logf("customer1's connection closed %v after the reload answered", took)
			if took > time.Second {
				t.Errorf("customer1's connection closed %v after the reload, want within 1s", took)
			}
			if err := c2.metadata(); err != nil {
				t.Errorf("customer2's connection: %v", err)
			}
			// kgate's own connections stay: the gateway still produces.
			if r := produceV2(t, g, "customer2", "Authorization", basic("customer2")); r.status != 200 {
				t.Errorf("gateway produce after the reload: %d %s", r.status, r.body)
			}
			recs := auditRecords(t, g, 10*time.Second, 1, func(m map[string]any) bool {
				return m["event"] == "disconnect" && m["principal"] == "customer1" && m["auth_method"] == "kafka_sasl"
			})
			if len(recs) == 0 {
				t.Error("no audit record of the closed connection")
			}
		})
	}
}

// TestFinding5KafkaPortConnectionCaps: one user holds at most
// broker.max_connections_per_user Kafka-port connections and the node at
// most broker.max_connections; a refused connection is told why and
// audited; closing one frees its slot.
func TestFinding5KafkaPortConnectionCaps(t *testing.T) {
	g := secureKafkaGateway(t, func(c *config.Config) {
		c.Broker.MaxConnectionsPerUser = 2
		c.Broker.MaxConnections = 3
	})
	login := func(user, pw string) (*kafkaConn, error) {
		c := dialKafka(t, g.Info.BrokerAddr, "127.0.0.1")
		return c, c.scramLogin(user, pw)
	}
	var held []*kafkaConn
	for range 2 {
		c, err := login("customer1", "password1")
		if err != nil {
			t.Fatalf("customer1 within its cap: %v", err)
		}
		held = append(held, c)
	}
	_, err := login("customer1", "password1")
	var se *saslError
	if !errors.As(err, &se) || se.code != kerr.SaslAuthenticationFailed.Code || !strings.Contains(se.msg, "Too many Kafka-port connections for this principal") {
		t.Fatalf("customer1's third connection: %v", err)
	}
	c, err := login("customer2", "password2")
	if err != nil {
		t.Fatalf("customer2 within the node's cap: %v", err)
	}
	held = append(held, c)
	_, err = login("admin", "adminpw")
	if !errors.As(err, &se) || !strings.Contains(se.msg, "Too many Kafka-port connections on this node") {
		t.Fatalf("a connection over the node's cap: %v", err)
	}
	// kgate's own client is not counted: the gateway works.
	if r := produceV2(t, g, "customer1", "Authorization", seedAuth); r.status != 200 {
		t.Errorf("gateway produce at the node's cap: %d %s", r.status, r.body)
	}
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := login("customer1", "password1")
		if err == nil {
			held = append(held, c)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed connection's slot was not freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	recs := auditRecords(t, g, 10*time.Second, 2, func(m map[string]any) bool {
		return m["event"] == "denied" && m["auth_method"] == "kafka_sasl" && strings.Contains(fmt.Sprint(m["reason"]), "connections")
	})
	if len(recs) < 2 {
		t.Errorf("audit records of the refused connections: %v", recs)
	}
}
