package gssapi_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	gogss "github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"github.com/twmb/franz-go/pkg/sasl/kerberos"

	"github.com/kgate/kgate/internal/gssapi"
	"github.com/kgate/kgate/internal/testutil"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// realm is a KDC with the service kafka/localhost and the client alice.
type realm struct {
	kdc        *testutil.KDC
	serviceKT  string
	aliceKT    string
	krb5config *krbconfig.Config
}

func startRealm(t *testing.T, opts ...testutil.KDCOpt) *realm {
	t.Helper()
	k := testutil.StartKDC(t, opts...)
	k.AddPrincipal("kafka/localhost", "")
	k.AddPrincipal("alice", "alice-password")
	r := &realm{kdc: k, serviceKT: k.Keytab("kafka/localhost"), aliceKT: k.Keytab("alice")}
	r.loadConfig(t)
	return r
}

// loadConfig (re)reads krb5.conf, which Trust rewrites.
func (r *realm) loadConfig(t *testing.T) {
	t.Helper()
	c, err := krbconfig.Load(r.kdc.Config())
	if err != nil {
		t.Fatalf("loading %s: %v", r.kdc.Config(), err)
	}
	r.krb5config = c
}

func (r *realm) acceptor(t *testing.T, mutate func(*gssapi.Config)) *gssapi.Acceptor {
	t.Helper()
	c := gssapi.Config{Keytab: r.serviceKT, ServicePrincipal: "kafka/localhost@" + r.kdc.Realm()}
	if mutate != nil {
		mutate(&c)
	}
	a, err := gssapi.New(c)
	if err != nil {
		t.Fatalf("gssapi.New: %v", err)
	}
	return a
}

// login logs name in with its keytab through gokrb5, the library
// franz-go's mechanism uses.
func (r *realm) login(t *testing.T, name, keytabPath string) *client.Client {
	t.Helper()
	kt, err := keytab.Load(keytabPath)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithKeytab(name, r.kdc.Realm(), kt, r.krb5config, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatalf("kerberos login of %s: %v", name, err)
	}
	t.Cleanup(cl.Destroy)
	return cl
}

// franzLogin drives franz-go's GSSAPI mechanism (the client side as a
// Kafka client runs it) against a Session, in process: the messages it
// would write to the broker go to Step, Step's replies to Challenge.
func franzLogin(t *testing.T, cl *client.Client, s *gssapi.Session) error {
	t.Helper()
	ctx := t.Context()
	mech := kerberos.Auth{Client: cl, Service: "kafka", PersistAfterAuth: true}.AsMechanism()
	sess, msg, err := mech.Authenticate(ctx, "localhost:9092")
	if err != nil {
		t.Fatalf("franz-go Authenticate: %v", err)
	}
	clientDone := false
	for range 5 {
		reply, done, err := s.Step(ctx, msg)
		if err != nil {
			return err
		}
		if done {
			if !clientDone {
				t.Fatalf("the session is done before the client is")
			}
			if len(reply) != 0 {
				t.Fatalf("final reply of %d bytes, want none", len(reply))
			}
			return nil
		}
		if clientDone {
			t.Fatalf("the client is done but the session wants more")
		}
		clientDone, msg, err = sess.Challenge(reply)
		if err != nil {
			t.Fatalf("franz-go Challenge: %v", err)
		}
	}
	t.Fatal("no end after 5 steps")
	return nil
}

// TestFranzGoLogin: franz-go's mechanism with a keytab login is accepted
// and the principal mapped by DEFAULT.
func TestFranzGoLogin(t *testing.T) {
	r := startRealm(t)
	a := r.acceptor(t, nil)
	before := time.Now()
	s := a.Start(loopback)
	if err := franzLogin(t, r.login(t, "alice", r.aliceKT), s); err != nil {
		t.Fatalf("login refused: %v", err)
	}
	if s.User() != "alice" || s.Principal() != "alice@KGATE.TEST" {
		t.Errorf("user %q principal %q, want alice, alice@KGATE.TEST", s.User(), s.Principal())
	}
	// krb5.conf asks for 1h tickets; the realm's cap is 10h.
	if exp := s.Expires(); exp.Before(before) || exp.After(before.Add(10*time.Hour+time.Minute)) {
		t.Errorf("Expires %s, want the ticket's end time within 10h of %s", exp, before)
	}
	if _, _, err := s.Step(t.Context(), nil); gssapi.ReasonOf(err) != gssapi.ReasonState {
		t.Errorf("a step after done: %v, want %s", err, gssapi.ReasonState)
	}
}

// initiator is a GSSAPI client built from gokrb5's Kerberos messages,
// for the shapes franz-go does not send: mutual authentication and an
// authenticator subkey, as MIT's library (under Cyrus SASL, librdkafka
// and kcat) and the JDK do, and an authorization id.
type initiator struct {
	t       *testing.T
	cl      *client.Client
	spn     string
	mutual  bool
	subkey  bool
	authzid string
	layer   byte

	sessionKey types.EncryptionKey
	auth       types.Authenticator
}

func (in *initiator) first() []byte {
	t := in.t
	tkt, key, err := in.cl.GetServiceTicket(in.spn)
	if err != nil {
		t.Fatalf("service ticket for %s: %v", in.spn, err)
	}
	in.sessionKey = key
	auth, err := types.NewAuthenticator(in.cl.Credentials.Domain(), in.cl.Credentials.CName())
	if err != nil {
		t.Fatal(err)
	}
	gssFlags := uint32(8 | 32) // sequence, integrity
	if in.mutual {
		gssFlags |= 2
	}
	ck := make([]byte, 24)
	binary.LittleEndian.PutUint32(ck[0:4], 16)
	binary.LittleEndian.PutUint32(ck[20:24], gssFlags)
	auth.Cksum = types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: ck}
	if in.subkey {
		if err := auth.GenerateSeqNumberAndSubKey(key.KeyType, len(key.KeyValue)); err != nil {
			t.Fatal(err)
		}
	}
	in.auth = auth
	req, err := messages.NewAPReq(tkt, key, auth)
	if err != nil {
		t.Fatal(err)
	}
	if in.mutual {
		types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	}
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return frame([]byte{1, 0}, b)
}

// wrapKey is the key of the wrap tokens: the subkey when sent.
func (in *initiator) wrapKey() types.EncryptionKey {
	if in.subkey {
		return in.auth.SubKey
	}
	return in.sessionKey
}

// checkAPRep verifies the acceptor's AP-REP as MIT's krb5_rd_rep does:
// decrypted with the session key, the authenticator's time echoed.
func (in *initiator) checkAPRep(tok []byte) {
	t := in.t
	inner := unframe(t, tok, []byte{2, 0})
	var rep messages.APRep
	if err := rep.Unmarshal(inner); err != nil {
		t.Fatalf("AP-REP: %v", err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, in.sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		t.Fatalf("AP-REP does not decrypt with the session key: %v", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		t.Fatalf("EncAPRepPart: %v", err)
	}
	// KerberosTime has whole seconds; cusec carries the microseconds.
	if !part.CTime.Equal(in.auth.CTime.Truncate(time.Second)) || part.Cusec != in.auth.Cusec {
		t.Fatalf("AP-REP echoes %s/%d, want %s/%d", part.CTime, part.Cusec, in.auth.CTime, in.auth.Cusec)
	}
	if len(part.Subkey.KeyValue) != 0 {
		t.Fatalf("AP-REP asserts an acceptor subkey")
	}
}

// answer verifies the acceptor's offer and answers it.
func (in *initiator) answer(offer []byte) []byte {
	t := in.t
	var wt gogss.WrapToken
	if err := wt.Unmarshal(offer, true); err != nil {
		t.Fatalf("offer: %v", err)
	}
	if ok, err := wt.Verify(in.wrapKey(), keyusage.GSSAPI_ACCEPTOR_SEAL); !ok {
		t.Fatalf("offer does not verify: %v", err)
	}
	if len(wt.Payload) != 4 || wt.Payload[0] != 1 {
		t.Fatalf("offer payload %x, want only layer 1 and a size", wt.Payload)
	}
	layer := in.layer
	if layer == 0 {
		layer = 1
	}
	payload := append([]byte{layer, 0, 0, 0}, in.authzid...)
	et, _ := crypto.GetEtype(in.wrapKey().KeyType)
	ans := gogss.WrapToken{EC: uint16(et.GetHMACBitLength() / 8), SndSeqNum: uint64(in.auth.SeqNumber), Payload: payload}
	if err := ans.SetCheckSum(in.wrapKey(), keyusage.GSSAPI_INITIATOR_SEAL); err != nil {
		t.Fatal(err)
	}
	b, err := ans.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run does the whole exchange against s.
func (in *initiator) run(s *gssapi.Session) error {
	t := in.t
	ctx := t.Context()
	reply, done, err := s.Step(ctx, in.first())
	if err != nil {
		return err
	}
	if done {
		t.Fatal("done after the first message")
	}
	if in.mutual {
		in.checkAPRep(reply)
		// Cyrus SASL and the JDK answer the AP-REP with an empty message.
		if reply, done, err = s.Step(ctx, nil); err != nil || done {
			t.Fatalf("empty message after the AP-REP: done %v, %v", done, err)
		}
	}
	reply, done, err = s.Step(ctx, in.answer(reply))
	if err != nil {
		return err
	}
	if !done || len(reply) != 0 {
		t.Fatalf("after the answer: done %v, reply of %d bytes", done, len(reply))
	}
	return nil
}

func frame(tokID, inner []byte) []byte {
	oid := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	body := append(append(append([]byte{}, oid...), tokID...), inner...)
	l, _ := asn1.Marshal(asn1.RawValue{Class: 1, Tag: 0, IsCompound: true, Bytes: body})
	return l // [APPLICATION 0] constructed: 0x60, the length, the body
}

func unframe(t *testing.T, tok, tokID []byte) []byte {
	t.Helper()
	var rv asn1.RawValue
	if _, err := asn1.Unmarshal(tok, &rv); err != nil || rv.Class != 1 || rv.Tag != 0 {
		t.Fatalf("not a GSS-API framed token: %x (%v)", tok, err)
	}
	oid := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	if !bytes.HasPrefix(rv.Bytes, append(oid, tokID...)) {
		t.Fatalf("token is not krb5 %x: %x", tokID, rv.Bytes)
	}
	return rv.Bytes[len(oid)+2:]
}

// TestMutualAuthentication: a client asking for mutual authentication
// with an authenticator subkey (MIT's and the JDK's shape) gets an AP-REP
// it can verify, then the offer under the subkey; authorization ids that
// name the client itself are accepted.
func TestMutualAuthentication(t *testing.T) {
	r := startRealm(t)
	a := r.acceptor(t, nil)
	cl := r.login(t, "alice", r.aliceKT)
	for _, tc := range []struct {
		name           string
		mutual, subkey bool
		authzid        string
	}{
		{"mutual with subkey", true, true, ""},
		{"mutual with subkey, authzid the principal", true, true, "alice@KGATE.TEST"},
		{"mutual with subkey, authzid the user", true, true, "alice"},
		{"mutual, session key", true, false, ""},
		{"not mutual, subkey", false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := a.Start(loopback)
			in := &initiator{t: t, cl: cl, spn: "kafka/localhost", mutual: tc.mutual, subkey: tc.subkey, authzid: tc.authzid}
			if err := in.run(s); err != nil {
				t.Fatalf("refused: %v", err)
			}
			if s.User() != "alice" {
				t.Errorf("user %q", s.User())
			}
		})
	}
}

// TestSecurityLayerRefusals: a client that asks for integrity or
// confidentiality protection (never offered), or to act as someone else,
// is refused at the last step.
func TestSecurityLayerRefusals(t *testing.T) {
	r := startRealm(t)
	a := r.acceptor(t, nil)
	cl := r.login(t, "alice", r.aliceKT)
	for _, in := range []*initiator{
		{layer: 2}, {layer: 4}, {layer: 3},
		{authzid: "bob"}, {authzid: "bob@KGATE.TEST"}, {authzid: "alice@OTHER.TEST"},
	} {
		in.t, in.cl, in.spn, in.mutual, in.subkey = t, cl, "kafka/localhost", true, true
		s := a.Start(loopback)
		err := in.run(s)
		if gssapi.ReasonOf(err) != gssapi.ReasonSecurityLayer {
			t.Errorf("layer %d authzid %q: %v, want %s", in.layer, in.authzid, err, gssapi.ReasonSecurityLayer)
		}
		if s.User() != "" && s.Principal() != "" {
			t.Errorf("a refused session names %q", s.Principal())
		}
	}
}

// TestWrongService: a ticket for another service of the realm is
// refused, and an acceptor cannot be built with a keytab of another
// service.
func TestWrongService(t *testing.T) {
	r := startRealm(t)
	r.kdc.AddPrincipal("other/localhost", "")
	otherKT := r.kdc.Keytab("other/localhost")
	a := r.acceptor(t, nil)
	cl := r.login(t, "alice", r.aliceKT)

	err := (&initiator{t: t, cl: cl, spn: "other/localhost", mutual: true}).run(a.Start(loopback))
	if gssapi.ReasonOf(err) != gssapi.ReasonWrongService {
		t.Errorf("ticket for other/localhost: %v, want %s", err, gssapi.ReasonWrongService)
	}
	if _, err := gssapi.New(gssapi.Config{Keytab: otherKT, ServicePrincipal: "kafka/localhost@KGATE.TEST"}); err == nil {
		t.Errorf("an acceptor was built with a keytab holding only other/localhost")
	}
	// An acceptor for other/localhost refuses tickets for kafka/localhost.
	b := r.acceptor(t, func(c *gssapi.Config) { c.Keytab, c.ServicePrincipal = otherKT, "other/localhost@KGATE.TEST" })
	if err := franzLogin(t, cl, b.Start(loopback)); gssapi.ReasonOf(err) != gssapi.ReasonWrongService {
		t.Errorf("kafka/localhost ticket at other/localhost: %v, want %s", err, gssapi.ReasonWrongService)
	}
}

// TestRotatedKey: after the service's key is rotated in the KDC, tickets
// carry the new key version the loaded keytab lacks (refused as no_key);
// Reload of the rewritten keytab accepts them.
func TestRotatedKey(t *testing.T) {
	r := startRealm(t)
	a := r.acceptor(t, nil)
	r.kdc.RotateKey("kafka/localhost")
	cl := r.login(t, "alice", r.aliceKT)
	if err := franzLogin(t, cl, a.Start(loopback)); gssapi.ReasonOf(err) != gssapi.ReasonNoKey {
		t.Fatalf("ticket under the rotated key: %v, want %s", err, gssapi.ReasonNoKey)
	}
	fresh, err := os.ReadFile(r.kdc.Keytab("kafka/localhost"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.serviceKT, fresh, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := franzLogin(t, cl, a.Start(loopback)); err != nil {
		t.Fatalf("after Reload: %v", err)
	}
	// A broken keytab leaves the loaded keys in use.
	if err := os.WriteFile(r.serviceKT, []byte("not a keytab"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil {
		t.Fatal("Reload accepted a broken keytab")
	}
	if err := franzLogin(t, cl, a.Start(loopback)); err != nil {
		t.Fatalf("after a failed Reload: %v", err)
	}
}

// TestTicketTimes: tickets are checked against the acceptor's clock (an
// injected one, so that no test waits): a ticket whose end has passed is
// expired, one from the future is not yet valid, an authenticator too far
// from our clock is skewed. The principal's tickets live one minute.
func TestTicketTimes(t *testing.T) {
	r := startRealm(t)
	r.kdc.AddPrincipal("shortlived", "shortlived-password", testutil.MaxLife(time.Minute))
	cl := r.login(t, "shortlived", r.kdc.Keytab("shortlived"))
	for _, tc := range []struct {
		name  string
		shift time.Duration
		want  gssapi.Reason
	}{
		{"ticket ended ten minutes ago", 11 * time.Minute, gssapi.ReasonExpired},
		{"ticket starts in an hour", -time.Hour, gssapi.ReasonNotYetValid},
		{"authenticator 45s in the past", 45 * time.Second, gssapi.ReasonClockSkew},
		{"in time", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := r.acceptor(t, func(c *gssapi.Config) {
				c.ClockSkew = 30 * time.Second
				c.Now = func() time.Time { return time.Now().Add(tc.shift) }
			})
			s := a.Start(loopback)
			err := franzLogin(t, cl, s)
			if gssapi.ReasonOf(err) != tc.want {
				t.Fatalf("got %v, want reason %q", err, tc.want)
			}
			if tc.want == "" && s.Expires().After(time.Now().Add(time.Minute)) {
				t.Errorf("Expires %s is beyond the principal's one-minute max life", s.Expires())
			}
		})
	}
}

// TestReplay: the same initial token presented twice is refused the
// second time, on another session of the same acceptor.
func TestReplay(t *testing.T) {
	r := startRealm(t)
	a := r.acceptor(t, nil)
	in := &initiator{t: t, cl: r.login(t, "alice", r.aliceKT), spn: "kafka/localhost", mutual: true, subkey: true}
	tok := in.first()
	if _, _, err := a.Start(loopback).Step(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Start(loopback).Step(t.Context(), tok); gssapi.ReasonOf(err) != gssapi.ReasonReplay {
		t.Fatalf("replayed token: %v, want %s", err, gssapi.ReasonReplay)
	}
}

// TestForeignRealm: with cross-realm trust between KGATE.TEST and
// OTHER.TEST, bob@OTHER.TEST gets a real ticket for kafka/localhost@KGATE.TEST.
// DEFAULT does not map his realm (foreign_realm); a rule for it does;
// rules that map none of his names refuse him (no_mapping).
func TestForeignRealm(t *testing.T) {
	home := startRealm(t)
	other := testutil.StartKDC(t, testutil.KDCRealm("OTHER.TEST"))
	other.AddPrincipal("bob", "bob-password")
	home.kdc.Trust(other)
	bobKT := other.Keytab("bob")
	// bob's client reads OTHER.TEST's krb5.conf, which now lists both.
	cfg, err := krbconfig.Load(other.Config())
	if err != nil {
		t.Fatal(err)
	}
	cfg.DomainRealm["localhost"] = home.kdc.Realm() // the service's host is in KGATE.TEST
	kt, err := keytab.Load(bobKT)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithKeytab("bob", "OTHER.TEST", kt, cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Destroy)

	s := home.acceptor(t, nil).Start(loopback)
	if err := franzLogin(t, cl, s); gssapi.ReasonOf(err) != gssapi.ReasonForeignRealm {
		t.Fatalf("bob@OTHER.TEST with DEFAULT: %v, want %s", err, gssapi.ReasonForeignRealm)
	}
	s = home.acceptor(t, func(c *gssapi.Config) {
		c.Rules = []string{`RULE:[1:$1@$0](.*@OTHER\.TEST)s/@.*/@other/`, "DEFAULT"}
	}).Start(loopback)
	if err := franzLogin(t, cl, s); gssapi.ReasonOf(err) != gssapi.ReasonNoMapping {
		t.Fatalf("a rule making bob@other: %v, want %s (not a simple name)", err, gssapi.ReasonNoMapping)
	}
	s = home.acceptor(t, func(c *gssapi.Config) {
		c.Rules = []string{`RULE:[1:$1@$0](.*@OTHER\.TEST)s/@.*/.other/`, "DEFAULT"}
	}).Start(loopback)
	if err := franzLogin(t, cl, s); err != nil {
		t.Fatalf("bob@OTHER.TEST with a rule for his realm: %v", err)
	}
	if s.User() != "bob.other" || s.Principal() != "bob@OTHER.TEST" {
		t.Errorf("user %q principal %q", s.User(), s.Principal())
	}
}

// TestNoMapping: a client of the service's own realm that no rule maps is
// refused.
func TestNoMapping(t *testing.T) {
	r := startRealm(t)
	r.kdc.AddPrincipal("svc/batch", "svc-password")
	a := r.acceptor(t, func(c *gssapi.Config) { c.Rules = []string{`RULE:[1:$1]`} })
	cl := r.login(t, "svc/batch", r.kdc.Keytab("svc/batch"))
	if err := franzLogin(t, cl, a.Start(loopback)); gssapi.ReasonOf(err) != gssapi.ReasonNoMapping {
		t.Fatalf("svc/batch with only one-component rules: %v, want %s", err, gssapi.ReasonNoMapping)
	}
	if err := franzLogin(t, r.login(t, "alice", r.aliceKT), a.Start(loopback)); err != nil {
		t.Fatalf("alice: %v", err)
	}
}

// TestTamperedTokens: real tokens with one byte changed, cut short or
// sent at the wrong step are refused with a reason, and a refused session
// stays refused.
func TestTamperedTokens(t *testing.T) {
	r := startRealm(t)
	a := r.acceptor(t, nil)
	cl := r.login(t, "alice", r.aliceKT)
	good := func() (*initiator, []byte) {
		in := &initiator{t: t, cl: cl, spn: "kafka/localhost", mutual: false, subkey: true}
		return in, in.first()
	}
	_, tok := good()
	for _, tc := range []struct {
		name string
		msg  []byte
		want gssapi.Reason
	}{
		{"empty", nil, gssapi.ReasonBadToken},
		{"cut short", tok[:len(tok)/2], gssapi.ReasonBadToken},
		{"last byte changed (authenticator cipher)", flip(tok, len(tok)-1), gssapi.ReasonIntegrity},
		{"not krb5", flip(tok, 5), gssapi.ReasonBadToken},
		{"a wrap token first", []byte{5, 4, 0, 0xff, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, gssapi.ReasonBadToken},
		{"oversized", append(bytes.Clone(tok), make([]byte, 70<<10)...), gssapi.ReasonBadToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := a.Start(loopback)
			if _, _, err := s.Step(t.Context(), tc.msg); gssapi.ReasonOf(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
			if _, _, err := s.Step(t.Context(), tok); gssapi.ReasonOf(err) != gssapi.ReasonState {
				t.Fatalf("a refused session stepped on: %v", err)
			}
		})
	}

	t.Run("answer checksum changed", func(t *testing.T) {
		in, tok := good()
		s := a.Start(loopback)
		offer, _, err := s.Step(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		ans := in.answer(offer)
		if _, _, err := s.Step(t.Context(), flip(ans, len(ans)-1)); gssapi.ReasonOf(err) != gssapi.ReasonIntegrity {
			t.Fatalf("got %v, want %s", err, gssapi.ReasonIntegrity)
		}
	})
	t.Run("answer under the session key instead of the subkey", func(t *testing.T) {
		in, tok := good()
		s := a.Start(loopback)
		if _, _, err := s.Step(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		et, _ := crypto.GetEtype(in.sessionKey.KeyType)
		wt := gogss.WrapToken{EC: uint16(et.GetHMACBitLength() / 8), SndSeqNum: uint64(in.auth.SeqNumber), Payload: []byte{1, 0, 0, 0}}
		if err := wt.SetCheckSum(in.sessionKey, keyusage.GSSAPI_INITIATOR_SEAL); err != nil {
			t.Fatal(err)
		}
		b, _ := wt.Marshal()
		if _, _, err := s.Step(t.Context(), b); gssapi.ReasonOf(err) != gssapi.ReasonIntegrity {
			t.Fatalf("got %v, want %s", err, gssapi.ReasonIntegrity)
		}
	})
	t.Run("the offer reflected back", func(t *testing.T) {
		_, tok := good()
		s := a.Start(loopback)
		offer, _, err := s.Step(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Step(t.Context(), offer); gssapi.ReasonOf(err) != gssapi.ReasonBadToken {
			t.Fatalf("got %v, want %s", err, gssapi.ReasonBadToken)
		}
	})
	t.Run("a message instead of the empty one after the AP-REP", func(t *testing.T) {
		in := &initiator{t: t, cl: cl, spn: "kafka/localhost", mutual: true}
		s := a.Start(loopback)
		if _, _, err := s.Step(t.Context(), in.first()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Step(t.Context(), []byte{1}); gssapi.ReasonOf(err) != gssapi.ReasonBadToken {
			t.Fatalf("got %v, want %s", err, gssapi.ReasonBadToken)
		}
	})
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}
