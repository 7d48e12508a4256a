// Package kafkaport guards the embedded broker's Kafka port and terminates
// SASL on it: a Guard wraps the broker's listener, authenticates each
// client itself (PLAIN against the users file's bcrypt hashes,
// SCRAM-SHA-256/512 against its salted credentials, or a mechanism plugged
// in through Options.Mechanisms), then logs in to the broker on the
// client's behalf with a derived SCRAM-SHA-512 credential (Credentials)
// and lets the connection pass untouched. The users and permissions reach
// it through the small Policy interface, which auth.Service implements;
// this package does not depend on package auth.
//
// Another mechanism (GSSAPI, OAUTHBEARER) plugs in as a NewSession in
// Options.Mechanisms, keyed by its Kafka name, and is offered when listed
// in Options.Enabled (and config.BrokerMechanisms, for the configuration
// to accept it):
//
//	kafkaport.Options{
//		Mechanisms: map[string]kafkaport.NewSession{"GSSAPI": func(c kafkaport.Conn) kafkaport.Session { ... }},
//		Enabled:    []string{"GSSAPI", "SCRAM-SHA-512"},
//	}
//
// Its Session calls Conn.Claim with the principal as soon as it knows it
// (before it verifies anything costly), returns a *Failure (BadCredentials,
// TokenExpired) to refuse, and reports the kgate user through User once
// Step returned done. A user not in the users file is provisioned on the
// broker through the hook given to Guard.Admit before the guard logs in as
// it.
package kafkaport
