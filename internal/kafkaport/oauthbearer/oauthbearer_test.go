package oauthbearer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// tokens verifies the tokens of a fixed table.
type tokens map[string]Identity

func (t tokens) VerifyBearer(_ context.Context, tok string) (Identity, error) {
	if id, ok := t[tok]; ok {
		return id, nil
	}
	return Identity{}, errors.New("token signature is invalid")
}

// clientMessage is what franz-go's OAUTHBEARER client sends first.
func clientMessage(t *testing.T, a oauth.Auth) []byte {
	t.Helper()
	_, msg, err := oauth.Oauth(func(context.Context) (oauth.Auth, error) { return a, nil }).Authenticate(t.Context(), "localhost:9092")
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestStep(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	v := tokens{"good.jwt.token": {User: "customer1", Expires: exp}}
	for _, c := range []struct {
		name   string
		msg    []byte
		user   string
		reason Reason
	}{
		{"franz-go", clientMessage(t, oauth.Auth{Token: "good.jwt.token"}), "customer1", ""},
		{"franz-go with an authzid", clientMessage(t, oauth.Auth{Token: "good.jwt.token", Zid: "customer1"}), "customer1", ""},
		{"franz-go with extensions", clientMessage(t, oauth.Auth{Token: "good.jwt.token", Extensions: map[string]string{"traceId": "abc"}}), "customer1", ""},
		{"librdkafka's framing", []byte("n,,\x01auth=Bearer good.jwt.token\x01\x01"), "customer1", ""},
		{"another user's authzid", clientMessage(t, oauth.Auth{Token: "good.jwt.token", Zid: "customer2"}), "", ReasonAuthzID},
		{"bad token", clientMessage(t, oauth.Auth{Token: "forged"}), "", ReasonInvalidToken},
		{"no token", []byte("n,,\x01\x01"), "", ReasonMalformed},
		{"not bearer", []byte("n,,\x01auth=Basic eA==\x01\x01"), "", ReasonMalformed},
		{"channel binding", []byte("y,,\x01auth=Bearer good.jwt.token\x01\x01"), "", ReasonMalformed},
		{"unterminated", []byte("n,,\x01auth=Bearer good.jwt.token\x01"), "", ReasonMalformed},
		{"empty", nil, "", ReasonMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Start(v)
			reply, done, err := s.Step(t.Context(), c.msg)
			if !done {
				t.Error("exchange not done after the one message")
			}
			if c.reason != "" {
				var e *Error
				if !errors.As(err, &e) || e.Reason != c.reason {
					t.Fatalf("err %v, want reason %q", err, c.reason)
				}
				return
			}
			if err != nil || len(reply) != 0 {
				t.Fatalf("reply %q, err %v", reply, err)
			}
			if s.User() != c.user || !s.Expires().Equal(exp) {
				t.Errorf("user %q expires %v, want %q %v", s.User(), s.Expires(), c.user, exp)
			}
			if _, _, err := s.Step(t.Context(), c.msg); err == nil {
				t.Error("a second message was taken")
			}
		})
	}
}

func TestErrorNeverShowsTheToken(t *testing.T) {
	_, _, err := Start(tokens{}).Step(t.Context(), []byte("n,,\x01auth=Bearer secret-token-value\x01\x01"))
	if err == nil {
		t.Fatal("a bad token was accepted")
	}
	if s := err.Error(); len(s) == 0 || strings.Contains(s, "secret-token-value") {
		t.Errorf("error %q", s)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("n,,\x01auth=Bearer a.b.c\x01\x01"))
	f.Add([]byte("n,a=us=2Cer,\x01auth=Bearer a.b.c\x01k=v\x01\x01"))
	f.Add([]byte("y,,\x01\x01"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		authzid, token, err := Parse(msg)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason != ReasonMalformed {
				t.Fatalf("error %v is not a malformed-message error", err)
			}
			return
		}
		if token == "" {
			t.Fatal("accepted without a token")
		}
		if strings.Contains(authzid, ",") && !strings.Contains(string(msg), "=2C") {
			t.Fatalf("authzid %q has a comma the message did not escape", authzid)
		}
	})
}
