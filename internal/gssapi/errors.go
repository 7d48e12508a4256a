package gssapi

import (
	"errors"
	"fmt"
)

// Reason classifies why a GSSAPI login was refused. The guard logs it and
// may count it; the client is only told that authentication failed.
type Reason string

// The reasons a Session refuses a login, declared once.
const (
	// ReasonBadToken: the message is not a well-formed token of the step
	// it arrived at (framing, ASN.1, sizes, an unexpected message).
	ReasonBadToken Reason = "bad_token"
	// ReasonWrongService: the ticket is for another service principal or
	// realm than the one configured.
	ReasonWrongService Reason = "wrong_service"
	// ReasonNoKey: the ticket is for our service, but the keytab holds no
	// key of its version and encryption type, or the ticket does not
	// decrypt with the key it holds (a rotated key not yet in the keytab).
	ReasonNoKey Reason = "no_key"
	// ReasonIntegrity: a checksum or encryption did not verify (the
	// authenticator, the security-layer token).
	ReasonIntegrity Reason = "integrity"
	// ReasonExpired: the ticket's end time has passed (beyond the clock
	// skew allowed).
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: the ticket's start time is in the future, or the
	// KDC marked it invalid.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonClockSkew: the authenticator's time is too far from ours.
	ReasonClockSkew Reason = "clock_skew"
	// ReasonReplay: the authenticator was seen before.
	ReasonReplay Reason = "replay"
	// ReasonAddress: the ticket is bound to addresses the client is not
	// connecting from.
	ReasonAddress Reason = "address"
	// ReasonForeignRealm: the client's realm is not the service's and no
	// rule maps it.
	ReasonForeignRealm Reason = "foreign_realm"
	// ReasonNoMapping: no principal-to-local rule maps the client, or a
	// rule mapped it to an unusable name.
	ReasonNoMapping Reason = "no_mapping"
	// ReasonSecurityLayer: the client chose a security layer other than
	// "none", or asked to act as another identity (authorization id).
	ReasonSecurityLayer Reason = "security_layer"
	// ReasonState: a message arrived after the exchange ended or failed.
	ReasonState Reason = "state"
)

// Error is a refused GSSAPI login. Its message names the reason class and
// what was wrong; it never holds key material, checksums or decrypted
// data, so it may be logged. Err, when set, is a cause that is equally
// safe to log (a parse error, a missing key's version).
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "gssapi: " + string(e.Reason)
	}
	return "gssapi: " + string(e.Reason) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of an *Error in err's chain, or "".
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func refuse(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Err: fmt.Errorf(format, args...)}
}
