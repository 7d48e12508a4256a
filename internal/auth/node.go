package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// MethodNode marks the requests one replica forwards to another: the
// caller authenticated at the replica that received its request, which
// vouches for it with the shared node secret (cluster.secret_file).
const MethodNode Method = "node"

// The headers of a forwarded request. A client's request that carries
// any of them is refused unless the signature holds.
const (
	// HeaderNode names the replica that forwarded the request.
	HeaderNode = "Kgate-Node"
	// HeaderNodeTime is when it signed it (Unix milliseconds).
	HeaderNodeTime = "Kgate-Node-Time"
	// HeaderNodePrincipal is the caller, as the forwarding replica
	// authenticated it (base64url JSON).
	HeaderNodePrincipal = "Kgate-Node-Principal"
	// HeaderNodeSignature is the HMAC-SHA256, with the node secret, of
	// the node, time, method, request URI, principal and body hash.
	HeaderNodeSignature = "Kgate-Node-Signature"
)

// nodeSkew is how far a forwarded request's signing time may be from
// the receiver's clock: replicas' clocks are NTP-close, and a request
// is signed just before it is sent.
const nodeSkew = time.Minute

// maxNodeBody bounds the body of a forwarded request the receiver
// hashes before anything else: the v2 consumer routes it serves take
// small JSON documents.
const maxNodeBody = 1 << 20

// minNodeSecret is the shortest node secret accepted, in bytes.
const minNodeSecret = 16

// NodeTrust signs the requests this replica forwards to the others and
// verifies theirs, with the secret they share. It never prints the
// secret. It is safe for concurrent use.
type NodeTrust struct {
	secret []byte
	self   string
	now    func() time.Time
}

// LoadNodeTrust reads the shared secret from path (surrounding white
// space ignored; at least 16 bytes) for node self.
func LoadNodeTrust(path, self string) (*NodeTrust, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The path is configuration; the error names no content.
		return nil, fmt.Errorf("cluster.secret_file: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < minNodeSecret {
		return nil, fmt.Errorf("cluster.secret_file %s: the secret must be at least %d bytes (for example the output of openssl rand -hex 32), got %d", path, minNodeSecret, len(b))
	}
	return NewNodeTrust(b, self), nil
}

// NewNodeTrust returns the trust of node self in secret.
func NewNodeTrust(secret []byte, self string) *NodeTrust {
	return &NodeTrust{secret: bytes.Clone(secret), self: self, now: time.Now}
}

// LogValue never shows the secret.
func (t *NodeTrust) LogValue() slog.Value {
	return slog.GroupValue(slog.String("node", t.self), slog.String("secret", "[redacted]"))
}

// String never shows the secret.
func (t *NodeTrust) String() string { return "node trust of " + t.self + " [redacted]" }

// wirePrincipal is a principal as a forwarded request carries it:
// everything the receiver needs to re-check its standing and decide its
// rights as the forwarding replica would (its credential's fingerprint
// included, never the credential).
type wirePrincipal struct {
	Name       string    `json:"name"`
	Method     Method    `json:"method"`
	TokenID    string    `json:"token_id,omitempty"`
	Expires    time.Time `json:"expires,omitzero"`
	ClientIP   string    `json:"client_ip,omitempty"`
	Issuer     string    `json:"issuer,omitempty"`
	Groups     []string  `json:"groups,omitempty"`
	Kerberos   string    `json:"kerberos,omitempty"`
	Plan       string    `json:"plan,omitempty"`
	Credential string    `json:"credential,omitempty"`
}

func encodePrincipal(p *Principal) string {
	w := wirePrincipal{Name: p.Name, Method: p.Method, TokenID: p.TokenID, Expires: p.Expires, Issuer: p.Issuer,
		Groups: p.Groups, Kerberos: p.Kerberos, Plan: p.Plan, Credential: p.credential}
	if p.ClientIP.IsValid() {
		w.ClientIP = p.ClientIP.String()
	}
	b, _ := json.Marshal(w) // plain strings and times: never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePrincipal(s string) (*Principal, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var w wirePrincipal
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	if w.Name == "" || w.Method == "" || w.Method == MethodNode {
		return nil, errors.New("no name or method")
	}
	p := &Principal{Name: w.Name, Method: w.Method, TokenID: w.TokenID, Expires: w.Expires, Issuer: w.Issuer,
		Groups: w.Groups, Kerberos: w.Kerberos, Plan: w.Plan, credential: w.Credential}
	if w.ClientIP != "" {
		if p.ClientIP, err = netip.ParseAddr(w.ClientIP); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (t *NodeTrust) mac(node, at, method, uri, principal string, body []byte) []byte {
	bh := sha256.Sum256(body)
	m := hmac.New(sha256.New, t.secret)
	for _, s := range []string{"kgate-node-v1", node, at, method, uri, principal, hex.EncodeToString(bh[:])} {
		m.Write([]byte(s))
		m.Write([]byte{'\n'})
	}
	return m.Sum(nil)
}

// Sign marks r, about to be sent to another replica with body (which r
// must send unchanged), as forwarded by this replica for p.
func (t *NodeTrust) Sign(r *http.Request, p *Principal, body []byte) {
	at := strconv.FormatInt(t.now().UnixMilli(), 10)
	enc := encodePrincipal(p)
	h := r.Header
	h.Set(HeaderNode, t.self)
	h.Set(HeaderNodeTime, at)
	h.Set(HeaderNodePrincipal, enc)
	h.Set(HeaderNodeSignature, hex.EncodeToString(t.mac(t.self, at, r.Method, r.URL.RequestURI(), enc, body)))
}

// fromNode reports whether r claims to come from a replica.
func fromNode(r *http.Request) bool {
	for _, h := range []string{HeaderNode, HeaderNodeTime, HeaderNodePrincipal, HeaderNodeSignature} {
		if _, ok := r.Header[h]; ok {
			return true
		}
	}
	return false
}

// verify checks a forwarded request's signature (in constant time), its
// time and its principal, reading and replacing its body; it returns
// the caller, with Via the forwarding replica.
func (t *NodeTrust) verify(r *http.Request) (*Principal, error) {
	fail := func(reason string) error { return &Error{Reason: reason, Method: MethodNode} }
	if t == nil {
		return nil, fail("a node-to-node request, but this node has no cluster.secret_file")
	}
	h := r.Header
	node, at, enc, sig := h.Get(HeaderNode), h.Get(HeaderNodeTime), h.Get(HeaderNodePrincipal), h.Get(HeaderNodeSignature)
	if node == "" || at == "" || enc == "" || sig == "" {
		return nil, fail("an incomplete node-to-node signature")
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return nil, fail("a malformed node-to-node signature")
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		body, err = io.ReadAll(io.LimitReader(r.Body, maxNodeBody+1))
		r.Body.Close()
		if err != nil || len(body) > maxNodeBody {
			return nil, fail("a node-to-node request body that could not be read")
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	// The request line as received: what the sender's client wrote from
	// the URI it signed.
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	if !hmac.Equal(got, t.mac(node, at, r.Method, uri, enc, body)) {
		return nil, fail("a wrong node-to-node signature")
	}
	ms, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return nil, fail("a malformed node-to-node time")
	}
	if d := t.now().Sub(time.UnixMilli(ms)); d > nodeSkew || d < -nodeSkew {
		return nil, fail("a node-to-node signature out of its time window")
	}
	p, err := decodePrincipal(enc)
	if err != nil {
		return nil, fail("a malformed forwarded principal")
	}
	p.Via = node
	return p, nil
}

// TrustNodes makes the service accept the requests other replicas
// forward with t's secret (nil: none). Call it before serving.
func (s *Service) TrustNodes(t *NodeTrust) { s.nodes = t }
