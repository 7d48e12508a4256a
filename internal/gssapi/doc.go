// Package gssapi is the server side of the SASL GSSAPI mechanism (RFC
// 4752) with the Kerberos V5 GSS-API mechanism (RFC 4121), as Kafka
// brokers run it: kgate's Kafka-port guard starts a Session per
// connection and feeds it the client's SASL messages.
//
// The exchange, in the order a Session expects it:
//
//  1. The client sends the GSS-API initial context token (an RFC 2743
//     framed KRB_AP_REQ). The session verifies the ticket with the
//     service keytab and the authenticator with the ticket's session key,
//     maps the client principal to a kgate user (Kafka's
//     principal.to.local rules) and answers with an AP-REP token when the
//     client asked for mutual authentication (Cyrus SASL as librdkafka
//     uses it, Java clients), or else directly with step 2's offer
//     (franz-go).
//  2. After an AP-REP the client answers with an empty message; the
//     session offers the security layers: a GSS wrap token whose 4-byte
//     payload is the layers bit mask (only 1, "no security layer", as
//     Kafka's default sasl qop "auth") and a maximum message size.
//  3. The client answers with a wrap token holding its choice (which
//     must be "no security layer") and an optional authorization id
//     (empty, its principal or its mapped user name). The session is
//     done: reply is empty.
//
// An Acceptor holds the keytab, the rules and a replay cache; it is safe
// for concurrent use. A Session belongs to one connection and is not.
package gssapi
