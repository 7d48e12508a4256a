package auth

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// memoryStore returns a token store that holds c, without Kafka.
func memoryStore(cs ...*Claims) *TokenStore {
	st := &TokenStore{byID: map[string]tokenRecord{}, bySub: map[string]map[string]struct{}{}, revokedBefore: map[string]int64{}}
	for _, c := range cs {
		st.apply(tokenKeyPrefix+c.ID, []byte(`{"sub":"`+c.Subject+`","iat_ms":1,"exp_ms":`+strconv.FormatInt(c.ExpiresAt.UnixMilli(), 10)+`}`))
	}
	return st
}

// TestBearerBoundToCredential: a token carries the fingerprint of the
// password it was issued against; one without it, or with another, is
// refused, and a principal authenticated with it stops standing once the
// password changes.
func TestBearerBoundToCredential(t *testing.T) {
	s := testService(t, nil)
	u := s.Policy().users.Lookup("customer1")
	bound, bc, err := s.jwt.issueFor("customer1", fingerprint(u), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	unbound, uc, _ := s.jwt.issue("customer1", time.Now())
	other, oc, _ := s.jwt.issueFor("customer1", fingerprint(s.Policy().users.Lookup("customer2")), time.Now())
	s.store = memoryStore(bc, uc, oc)
	p, err := s.Authenticate(request("127.0.0.1:1", "Bearer "+bound))
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"unbound": unbound, "another credential": other} {
		if _, err := s.Authenticate(request("127.0.0.1:1", "Bearer "+tok)); err == nil || !strings.Contains(err.Error(), "another password") {
			t.Errorf("%s token: %v", name, err)
		}
	}
	// The password changes (the same password, a new salt: a user deleted
	// and added again looks so).
	users := *s.Policy().users
	users.byName = map[string]*User{}
	for k, v := range s.Policy().users.byName {
		users.byName[k] = v
	}
	changed := *u
	changed.PasswordHash, _ = bcrypt.GenerateFromPassword([]byte("password1"), bcrypt.MinCost)
	users.byName["customer1"] = &changed
	s.policy.Store(NewPolicy(&users, s.Policy().perms, nil))
	if _, err := s.Authenticate(request("127.0.0.1:1", "Bearer "+bound)); err == nil {
		t.Error("a token of the old password authenticated")
	}
	if err := s.Recheck(p, time.Now()); err == nil {
		t.Error("a principal of the old password still stands")
	}
}
