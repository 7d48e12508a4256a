package auth

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClientAllowed reports whether user may connect from ip: every entry that
// applies to the user (its own, its groups', "*") and lists cidrs must
// contain ip. Users without such entries may connect from anywhere.
func (p *Policy) ClientAllowed(user string, ip netip.Addr) bool {
	if p.open {
		return true
	}
	var groups []string
	if u := p.users.Lookup(user); u != nil {
		groups = u.Groups
	}
	for _, e := range p.perms.applicable(user, groups, true) {
		if e.cidrs != nil && !inAny(ip, e.cidrs) {
			return false
		}
	}
	return true
}

// GuardListener wraps the embedded broker's Kafka listener so that the
// permissions' client CIDRs hold on the Kafka port too (Kafka ACL hosts
// are single addresses). Until a connection names its SASL user, the guard
// reads the Kafka frames passing by to find the user in the first
// SaslAuthenticate request; a user not allowed from the connection's
// address is disconnected before the broker sees that request. After that
// the connection is passed through untouched. allowed is asked per
// connection; denied, if set, is told of each refusal.
func GuardListener(ln net.Listener, allowed func(user string, ip netip.Addr) bool, denied func(user string, ip netip.Addr)) net.Listener {
	return &guardListener{Listener: ln, allowed: allowed, denied: denied}
}

type guardListener struct {
	net.Listener
	allowed func(string, netip.Addr) bool
	denied  func(string, netip.Addr)
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	var ip netip.Addr
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
		ip = ip.Unmap()
	}
	return &guardConn{Conn: c, l: l, ip: ip}, nil
}

type guardConn struct {
	net.Conn
	l  *guardListener
	ip netip.Addr

	mu      sync.Mutex // Read is called from one goroutine; mu is for clarity
	sniff   SASLSniffer
	decided bool
	refused error
}

func (c *guardConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused != nil {
		return 0, c.refused
	}
	n, err := c.Conn.Read(p)
	if c.decided || n == 0 {
		return n, err
	}
	user, done, perr := c.sniff.Feed(p[:n])
	switch {
	case perr != nil:
		c.refused = fmt.Errorf("kafka port guard: %w", perr)
	case done && user != "" && !c.l.allowed(user, c.ip):
		if c.l.denied != nil {
			c.l.denied(user, c.ip)
		}
		c.refused = errors.New("kafka port guard: client address not allowed for this user")
	case done:
		c.decided = true
		return n, err
	default:
		return n, err
	}
	c.Conn.Close()
	return 0, c.refused
}

// SASLSniffer finds the SASL user in the client side of a Kafka
// connection. Feed it the bytes the client sends, in order, until it
// reports done.
type SASLSniffer struct {
	buf       []byte
	frames    int
	mechanism string
}

// Bounds on what a connection may send before it has authenticated.
const (
	sniffMaxFrames = 16
	sniffMaxFrame  = 1 << 20
)

var errSniff = errors.New("malformed or unexpected request before SASL authentication")

// Feed consumes client bytes. done is true once the first SaslAuthenticate
// request has been seen; user is the user it names (empty if the mechanism
// is unknown). err means the connection must be closed.
func (s *SASLSniffer) Feed(b []byte) (user string, done bool, err error) {
	s.buf = append(s.buf, b...)
	for {
		if len(s.buf) < 4 {
			return "", false, nil
		}
		size := int(int32(binary.BigEndian.Uint32(s.buf)))
		if size < 8 || size > sniffMaxFrame {
			return "", false, errSniff
		}
		if len(s.buf) < 4+size {
			return "", false, nil
		}
		frame := s.buf[4 : 4+size]
		s.frames++
		if s.frames > sniffMaxFrames {
			return "", false, errSniff
		}
		user, done, err := s.frame(frame)
		if err != nil || done {
			return user, done, err
		}
		s.buf = s.buf[4+size:]
	}
}

func (s *SASLSniffer) frame(f []byte) (string, bool, error) {
	r := kbin{b: f}
	key := r.int16()
	version := r.int16()
	r.int32() // correlation id
	r.nullableString()
	if r.bad {
		return "", false, errSniff
	}
	switch key {
	case 17: // SaslHandshake (never flexible)
		s.mechanism = r.string()
		if r.bad {
			return "", false, errSniff
		}
	case 36: // SaslAuthenticate
		var auth []byte
		if version >= 2 {
			r.tags()
			auth = r.compactBytes()
		} else {
			auth = r.bytes()
		}
		if r.bad {
			return "", false, errSniff
		}
		return saslUser(s.mechanism, auth), true, nil
	}
	return "", false, nil
}

// saslUser extracts the authentication identity from a PLAIN message
// (authzid NUL authcid NUL password) or a SCRAM client-first message
// ("n,,n=user,r=nonce").
func saslUser(mechanism string, auth []byte) string {
	switch strings.ToUpper(mechanism) {
	case "PLAIN":
		parts := bytes.SplitN(auth, []byte{0}, 3)
		if len(parts) == 3 {
			return string(parts[1])
		}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		// gs2-header: flag "," [authzid] ","
		msg := string(auth)
		i := strings.IndexByte(msg, ',')
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(msg[i+1:], ',')
		if j < 0 {
			return ""
		}
		bare := msg[i+1+j+1:]
		if !strings.HasPrefix(bare, "n=") {
			return ""
		}
		name, _, _ := strings.Cut(bare[2:], ",")
		return strings.NewReplacer("=2C", ",", "=3D", "=").Replace(name)
	}
	return ""
}

// kbin reads Kafka's primitive types; a short read sets bad.
type kbin struct {
	b   []byte
	bad bool
}

func (r *kbin) take(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.bad = true
		r.b = nil
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *kbin) int16() int16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return int16(binary.BigEndian.Uint16(b))
}

func (r *kbin) int32() int32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

func (r *kbin) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *kbin) nullableString() {
	n := r.int16()
	if n > 0 {
		r.take(int(n))
	}
}

func (r *kbin) string() string {
	n := r.int16()
	if n < 0 {
		r.bad = true
		return ""
	}
	return string(r.take(int(n)))
}

func (r *kbin) bytes() []byte {
	n := r.int32()
	if n < 0 {
		return nil
	}
	return r.take(int(n))
}

func (r *kbin) compactBytes() []byte {
	n := r.uvarint()
	if n == 0 || n > uint64(len(r.b))+1 {
		if n != 0 {
			r.bad = true
		}
		return nil
	}
	return r.take(int(n - 1))
}

func (r *kbin) tags() {
	n := r.uvarint()
	for i := uint64(0); i < n && !r.bad; i++ {
		r.uvarint() // tag
		size := r.uvarint()
		if size > uint64(len(r.b)) {
			r.bad = true
			return
		}
		r.take(int(size))
	}
}

// AdvertiseSASLHandshakeV0 works around librdkafka (kcat, confluent-kafka)
// refusing SASL against kfake: librdkafka enables SASL only when the
// broker's ApiVersions range for SaslHandshake includes version 0, and
// kfake serves version 1 only. The fix uses kfake's public control hooks
// and copies nothing of kfake: kgate asks the broker for its ApiVersions
// once, then answers every ApiVersions request with that response, the
// SaslHandshake range widened to 0-1. librdkafka then negotiates version 1,
// which kfake serves. Requests the copy cannot answer faithfully (a newer
// version than captured, or KIP-1242's cluster/node check) go to kfake.
// cl must be connected to the broker.
func AdvertiseSASLHandshakeV0(ctx context.Context, c *kfake.Cluster, cl *kgo.Client) error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName = "kgate"
	req.ClientSoftwareVersion = "1"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("asking the embedded broker for its API versions: %w", err)
	}
	if resp.ErrorCode != 0 {
		return fmt.Errorf("asking the embedded broker for its API versions: error code %d", resp.ErrorCode)
	}
	var maxVersion int16 = -1
	for i := range resp.ApiKeys {
		k := &resp.ApiKeys[i]
		if k.ApiKey == int16(kmsg.SASLHandshake) {
			k.MinVersion = 0
		}
		if k.ApiKey == int16(kmsg.ApiVersions) {
			maxVersion = k.MaxVersion
		}
	}
	if maxVersion < 0 {
		return errors.New("the embedded broker does not list ApiVersions")
	}
	installAPIVersions(c, resp, maxVersion)
	return nil
}

// installAPIVersions registers the control function. A control function
// remembers every connection it saw, so it is replaced by a fresh one
// every so many requests to keep that memory bounded.
func installAPIVersions(c *kfake.Cluster, captured *kmsg.ApiVersionsResponse, maxVersion int16) {
	const renewEvery = 1000
	calls := 0
	c.ControlKey(int16(kmsg.ApiVersions), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req, ok := kreq.(*kmsg.ApiVersionsRequest)
		if !ok || req.Version > maxVersion || req.Version >= 5 && (req.ClusterID != nil || req.NodeID != -1) {
			return nil, nil, false
		}
		if req.Version >= 3 && (!validSoftware(req.ClientSoftwareName) || !validSoftware(req.ClientSoftwareVersion)) {
			return nil, nil, false
		}
		calls++
		if calls >= renewEvery {
			c.DropControl()
			installAPIVersions(c, captured, maxVersion)
		}
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.Version = req.Version
		resp.ApiKeys = append(resp.ApiKeys[:0], captured.ApiKeys...)
		resp.SupportedFeatures = captured.SupportedFeatures
		resp.FinalizedFeatures = captured.FinalizedFeatures
		resp.FinalizedFeaturesEpoch = captured.FinalizedFeaturesEpoch
		resp.ZkMigrationReady = captured.ZkMigrationReady
		return resp, nil, true
	})
}

// validSoftware is KIP-511's rule for client software names and versions.
func validSoftware(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' && c != '.' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}
