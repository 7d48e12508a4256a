package gssapi

import (
	"net/netip"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// Negotiated is a verified HTTP Negotiate login (RFC 4559).
type Negotiated struct {
	// Principal is the client's Kerberos principal, User the kgate user
	// it maps to, Expires its ticket's end.
	Principal Principal
	User      string
	Expires   time.Time
	// Reply, when not empty, goes back in "WWW-Authenticate: Negotiate
	// <base64>" with the answer: a SPNEGO NegTokenResp accepting the
	// context, holding the AP-REP when the client asked for mutual
	// authentication.
	Reply []byte
}

// spnegoAccepted is NegTokenResp's negState accept-completed.
const spnegoAccepted = 0

// Negotiate verifies the token of an "Authorization: Negotiate" header
// from remote: a SPNEGO NegTokenInit whose optimistic mechanism token is
// a Kerberos initial context token (what curl, browsers and MIT's
// libraries send), or such a Kerberos token bare. The ticket is checked
// as on the Kafka port (Session), replays included. An error is an
// *Error.
func (a *Acceptor) Negotiate(remote netip.Addr, token []byte) (n Negotiated, err error) {
	defer func() {
		// gokrb5's decoders are not written for hostile input.
		if p := recover(); p != nil {
			n, err = Negotiated{}, refuse(ReasonBadToken, "malformed token")
		}
	}()
	if len(token) > maxInitialToken {
		return Negotiated{}, refuse(ReasonBadToken, "token of %d bytes (at most %d)", len(token), maxInitialToken)
	}
	mech := token
	wrapped := false
	if _, perr := parseInitialToken(token); perr != nil {
		var st spnego.SPNEGOToken
		if err := st.Unmarshal(token); err != nil || !st.Init {
			return Negotiated{}, refuse(ReasonBadToken, "neither a SPNEGO NegTokenInit nor a Kerberos token")
		}
		ti := st.NegTokenInit
		if len(ti.MechTypes) == 0 || !(ti.MechTypes[0].Equal(gssapi.OIDKRB5.OID()) || ti.MechTypes[0].Equal(gssapi.OIDMSLegacyKRB5.OID())) {
			return Negotiated{}, refuse(ReasonBadToken, "SPNEGO offers no Kerberos token first (only Kerberos is accepted)")
		}
		if len(ti.MechTokenBytes) == 0 {
			return Negotiated{}, refuse(ReasonBadToken, "SPNEGO NegTokenInit holds no mechanism token")
		}
		mech, wrapped = ti.MechTokenBytes, true
	}
	tk, e := a.verifyInitial(remote, mech)
	if e != nil {
		return Negotiated{}, e
	}
	n = Negotiated{Principal: tk.client, User: tk.user, Expires: tk.expires}
	var rep []byte
	if tk.mutual {
		if rep, err = newAPRep(tk.auth, tk.sessionKey, uint32(tk.auth.SeqNumber)); err != nil {
			return Negotiated{}, &Error{Reason: ReasonBadToken, Err: err}
		}
	}
	if !wrapped {
		n.Reply = rep
		return n, nil
	}
	resp := spnego.NegTokenResp{NegState: asn1.Enumerated(spnegoAccepted), SupportedMech: gssapi.OIDKRB5.OID(), ResponseToken: rep}
	if n.Reply, err = resp.Marshal(); err != nil {
		return Negotiated{}, &Error{Reason: ReasonBadToken, Err: err}
	}
	return n, nil
}
