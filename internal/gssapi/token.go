package gssapi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Bounds on what a client may send. A Kerberos initial token is a ticket
// and an authenticator: a few hundred bytes from MIT, up to tens of
// kilobytes from Active Directory with a large PAC (Windows caps it at
// 64 KiB, MaxTokenSize). The security-layer answer is a wrap token
// around 4 bytes and an authorization id.
const (
	maxInitialToken = 64 << 10
	maxWrapToken    = 4 << 10
	maxAuthzID      = 1024
)

// krb5OID is the DER encoding of the Kerberos V5 GSS-API mechanism,
// 1.2.840.113554.1.2.2 (RFC 1964 section 1).
var krb5OID = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}

// Token identifiers of RFC 1964 section 1.1 / RFC 4121 section 4.1.
var (
	tokAPReq = [2]byte{0x01, 0x00}
	tokAPRep = [2]byte{0x02, 0x00}
)

// Flags of the RFC 4121 section 4.1.1.1 checksum, and its type.
const (
	gssChecksumType = 0x8003
	flagMutual      = 2
)

// Wrap token flags (RFC 4121 section 4.2.2).
const (
	wrapSentByAcceptor = 0x01
	wrapSealed         = 0x02
	wrapAcceptorSubkey = 0x04
)

// Security layers of RFC 4752 section 3.1: only "no security layer" is
// offered, as Kafka does with its default sasl qop "auth".
const layerNone = 1

// serverMaxMessage is the maximum message size the offer names (the JDK
// SASL server's default that every Kafka client has seen; with no
// security layer no message is ever wrapped).
const serverMaxMessage = 65536

// parseInitialToken checks the RFC 2743 section 3.1 framing of an
// initial context token for the Kerberos mechanism and returns the
// KRB_AP_REQ inside.
func parseInitialToken(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x60 {
		return nil, errors.New("not a GSS-API initial context token")
	}
	n, rest, err := derLength(b[1:])
	if err != nil {
		return nil, err
	}
	if n != len(rest) {
		return nil, fmt.Errorf("token length %d, %d bytes follow", n, len(rest))
	}
	if !bytes.HasPrefix(rest, krb5OID) {
		return nil, errors.New("mechanism is not Kerberos V5 (1.2.840.113554.1.2.2)")
	}
	rest = rest[len(krb5OID):]
	if len(rest) < 2 || [2]byte(rest[:2]) != tokAPReq {
		return nil, errors.New("inner token is not a KRB_AP_REQ")
	}
	return rest[2:], nil
}

// derLength reads a DER length (short form, or long form up to 4 bytes).
func derLength(b []byte) (int, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errors.New("token truncated in its length")
	}
	if b[0] < 0x80 {
		return int(b[0]), b[1:], nil
	}
	k := int(b[0] & 0x7f)
	if k == 0 || k > 4 || len(b) < 1+k {
		return 0, nil, errors.New("token length malformed")
	}
	n := 0
	for _, c := range b[1 : 1+k] {
		n = n<<8 | int(c)
	}
	return n, b[1+k:], nil
}

// frameToken wraps an inner Kerberos message with the RFC 2743 framing
// and the token id, as GSS-API's context tokens are sent.
func frameToken(tok [2]byte, inner []byte) []byte {
	n := len(krb5OID) + 2 + len(inner)
	out := []byte{0x60}
	out = appendDERLength(out, n)
	out = append(out, krb5OID...)
	out = append(out, tok[:]...)
	return append(out, inner...)
}

func appendDERLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	case n < 0x10000:
		return append(b, 0x82, byte(n>>8), byte(n))
	default:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

// gssFlags returns the context flags of an authenticator's RFC 4121
// checksum; an authenticator without one is not a GSS-API token.
func gssFlags(a types.Authenticator) (uint32, error) {
	c := a.Cksum
	if c.CksumType != gssChecksumType {
		return 0, fmt.Errorf("authenticator checksum type %d, want %d (GSS-API)", c.CksumType, gssChecksumType)
	}
	if len(c.Checksum) < 24 {
		return 0, fmt.Errorf("GSS-API checksum of %d bytes, want at least 24", len(c.Checksum))
	}
	if l := binary.LittleEndian.Uint32(c.Checksum[0:4]); l != 16 {
		return 0, fmt.Errorf("GSS-API checksum channel-binding length %d, want 16", l)
	}
	return binary.LittleEndian.Uint32(c.Checksum[20:24]), nil
}

// encAPRepPart is EncAPRepPart (RFC 4120 section 5.5.2) without a subkey:
// the acceptor asserts none, so both sides keep the initiator's subkey
// (or the session key).
type encAPRepPart struct {
	CTime          time.Time `asn1:"generalized,explicit,tag:0"`
	Cusec          int       `asn1:"explicit,tag:1"`
	SequenceNumber int64     `asn1:"optional,explicit,tag:3"`
}

type apRep struct {
	PVNO    int                 `asn1:"explicit,tag:0"`
	MsgType int                 `asn1:"explicit,tag:1"`
	EncPart types.EncryptedData `asn1:"explicit,tag:2"`
}

// newAPRep builds the framed AP-REP token answering auth: its time
// echoed and the acceptor's initial sequence number, encrypted in the
// ticket's session key.
func newAPRep(auth types.Authenticator, sessionKey types.EncryptionKey, seq uint32) ([]byte, error) {
	part, err := asn1.Marshal(encAPRepPart{CTime: auth.CTime.UTC(), Cusec: auth.Cusec, SequenceNumber: int64(seq)})
	if err != nil {
		return nil, err
	}
	part = asn1tools.AddASNAppTag(part, asnAppTag.EncAPRepPart)
	enc, err := crypto.GetEncryptedData(part, sessionKey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, err
	}
	rep, err := asn1.Marshal(apRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: enc})
	if err != nil {
		return nil, err
	}
	return frameToken(tokAPRep, asn1tools.AddASNAppTag(rep, asnAppTag.APREP)), nil
}

// newOffer builds the acceptor's wrap token offering the security
// layers (RFC 4752 section 3.1), integrity-protected, not sealed.
func newOffer(key types.EncryptionKey, seq uint32) ([]byte, error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	payload := binary.BigEndian.AppendUint32(nil, serverMaxMessage)
	payload[0] = layerNone // the size takes the low three bytes
	wt := gssapi.WrapToken{
		Flags:     wrapSentByAcceptor,
		EC:        uint16(et.GetHMACBitLength() / 8),
		SndSeqNum: uint64(seq),
		Payload:   payload,
	}
	if err := wt.SetCheckSum(key, keyusage.GSSAPI_ACCEPTOR_SEAL); err != nil {
		return nil, err
	}
	return wt.Marshal()
}

// openAnswer verifies the initiator's wrap token answering the offer and
// returns its payload. Only integrity-protected tokens are accepted, as
// Cyrus SASL, the JDK and franz-go send them; a right rotation (RRC) is
// undone.
func openAnswer(b []byte, key types.EncryptionKey) ([]byte, *Error) {
	if len(b) > maxWrapToken {
		return nil, refuse(ReasonBadToken, "security-layer answer of %d bytes (at most %d)", len(b), maxWrapToken)
	}
	if len(b) < 16 {
		return nil, refuse(ReasonBadToken, "security-layer answer of %d bytes is no wrap token", len(b))
	}
	flags := b[2]
	switch {
	case flags&wrapSentByAcceptor != 0:
		return nil, refuse(ReasonBadToken, "security-layer answer claims to come from the acceptor")
	case flags&wrapSealed != 0:
		return nil, refuse(ReasonBadToken, "security-layer answer is sealed; only integrity-protected answers are supported")
	case flags&wrapAcceptorSubkey != 0:
		return nil, refuse(ReasonBadToken, "security-layer answer names an acceptor subkey that was never sent")
	}
	if rrc := int(binary.BigEndian.Uint16(b[6:8])); rrc != 0 {
		body := b[16:]
		if len(body) == 0 {
			return nil, refuse(ReasonBadToken, "security-layer answer has no body")
		}
		rrc %= len(body)
		rot := make([]byte, 0, len(b))
		rot = append(rot, b[:16]...)
		rot = append(rot, body[rrc:]...)
		b = append(rot, body[:rrc]...)
	}
	var wt gssapi.WrapToken
	if err := wt.Unmarshal(b, false); err != nil {
		return nil, &Error{Reason: ReasonBadToken, Err: fmt.Errorf("security-layer answer: %w", err)}
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, &Error{Reason: ReasonBadToken, Err: err}
	}
	if int(wt.EC) != et.GetHMACBitLength()/8 {
		return nil, refuse(ReasonBadToken, "security-layer answer checksum of %d bytes, want %d", wt.EC, et.GetHMACBitLength()/8)
	}
	// Verify's error quotes both checksums: keep it out of the message.
	if ok, _ := wt.Verify(key, keyusage.GSSAPI_INITIATOR_SEAL); !ok {
		return nil, refuse(ReasonIntegrity, "security-layer answer checksum does not verify")
	}
	return wt.Payload, nil
}

// parseAPReq unmarshals a KRB_AP_REQ and checks what gokrb5 would
// otherwise index without looking.
func parseAPReq(b []byte) (messages.APReq, *Error) {
	var req messages.APReq
	if err := req.Unmarshal(b); err != nil {
		return req, &Error{Reason: ReasonBadToken, Err: fmt.Errorf("KRB_AP_REQ: %w", err)}
	}
	if req.PVNO != 5 {
		return req, refuse(ReasonBadToken, "KRB_AP_REQ protocol version %d, want 5", req.PVNO)
	}
	if len(req.Ticket.SName.NameString) == 0 {
		return req, refuse(ReasonBadToken, "ticket names no service")
	}
	return req, nil
}
