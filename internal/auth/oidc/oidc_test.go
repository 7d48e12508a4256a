package oidc

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/config"
)

func testVerifier(t testing.TB, c config.OIDCIssuer, now time.Time) (*Verifier, *issuer) {
	t.Helper()
	c.Issuer = "https://idp.example/realms/corp"
	c.Audiences = []string{"kgate"}
	v, err := New(Options{Issuers: []config.OIDCIssuer{c}, Now: func() time.Time { return now },
		CheckGroup: func(s string) error {
			if strings.ContainsAny(s, " /!") {
				return errors.New("bad group")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return v, v.order[0]
}

func payload(t *testing.T, c map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClaims: the registered claims with the clock skew, the principal
// claim (nested, prefixed) and the groups claim in its two shapes,
// mapped or not.
func TestClaims(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	base := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"iss": "https://idp.example/realms/corp", "aud": "kgate", "sub": "u-1",
			"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(),
			"preferred_username": "alice", "realm_access": map[string]any{"roles": []string{"readers", "offline access", "writers"}},
			"scope_groups": "readers  writers /admins"}
		if edit != nil {
			edit(c)
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		cfg     config.OIDCIssuer
		edit    func(map[string]any)
		wantErr string
		name2   string
		groups  []string
	}{
		{name: "defaults", name2: "u-1"},
		{name: "prefix and nested roles", cfg: config.OIDCIssuer{Prefix: "corp:", PrincipalClaim: "preferred_username", GroupsClaim: "realm_access.roles"},
			name2: "corp:alice", groups: []string{"readers", "writers"}},
		{name: "space-separated, mapped", cfg: config.OIDCIssuer{GroupsClaim: "scope_groups", Groups: map[string]string{"writers": "producers", "/admins": "ops"}},
			name2: "u-1", groups: []string{"producers", "ops"}},
		{name: "audience in a list", edit: func(c map[string]any) { c["aud"] = []string{"other", "kgate"} }, name2: "u-1"},
		{name: "wrong audience", edit: func(c map[string]any) { c["aud"] = []string{"other"} }, wantErr: "wrong audience"},
		{name: "no audience", edit: func(c map[string]any) { delete(c, "aud") }, wantErr: "wrong audience"},
		{name: "wrong issuer", edit: func(c map[string]any) { c["iss"] = "https://idp.example/realms/other" }, wantErr: "wrong issuer"},
		{name: "expired within skew", edit: func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() }, name2: "u-1"},
		{name: "expired beyond skew", edit: func(c map[string]any) { c["exp"] = now.Add(-61 * time.Second).Unix() }, wantErr: "token expired"},
		{name: "exp a string", edit: func(c map[string]any) { c["exp"] = "tomorrow" }, wantErr: "no exp"},
		{name: "nbf ahead", edit: func(c map[string]any) { c["nbf"] = now.Add(2 * time.Minute).Unix() }, wantErr: "not valid yet"},
		{name: "nbf a string", edit: func(c map[string]any) { c["nbf"] = "soon" }, wantErr: "nbf is not a number"},
		{name: "iat ahead", edit: func(c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() }, wantErr: "issued in the future"},
		{name: "no principal", cfg: config.OIDCIssuer{PrincipalClaim: "email"}, wantErr: "claim email is missing"},
		{name: "principal not a string", edit: func(c map[string]any) { c["sub"] = 42 }, wantErr: "claim sub is missing or not a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, is := testVerifier(t, tc.cfg, now)
			id, err := v.claims(is, payload(t, base(tc.edit)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v %v, want an error with %q", id, err, tc.wantErr)
				}
				var e *Error
				if errors.As(err, &e) && e.Expired != (tc.wantErr == "token expired") {
					t.Errorf("Expired = %v", e.Expired)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Name != tc.name2 || !slices.Equal(id.Groups, tc.groups) {
				t.Errorf("got %q %q, want %q %q", id.Name, id.Groups, tc.name2, tc.groups)
			}
		})
	}
}

// TestUnknownKidCredit: unknown key ids may fetch the keys three times
// in a row, then once per min_refresh_interval.
func TestUnknownKidCredit(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	_, is := testVerifier(t, config.OIDCIssuer{MinRefreshInterval: config.Duration(10 * time.Second)}, now)
	is.now = func() time.Time { return now }
	var got []bool
	for range 5 {
		got = append(got, is.takeCredit())
	}
	if !slices.Equal(got, []bool{true, true, true, false, false}) {
		t.Errorf("in a row: %v", got)
	}
	now = now.Add(10 * time.Second)
	if !is.takeCredit() || is.takeCredit() {
		t.Error("after one interval: want one fetch")
	}
}

// TestPeekIssuer: only compact JWS with a JSON payload holding iss.
func TestPeekIssuer(t *testing.T) {
	for tok, want := range map[string]string{
		"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcCJ9.c2ln": "https://idp",
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln":              "",
		"not-a-jwt": "",
		"a.b.c.d":   "",
		"a.!!!.c":   "",
	} {
		got, _ := peekIssuer(tok)
		if got != want {
			t.Errorf("%s: %q, want %q", tok, got, want)
		}
	}
	if _, ok := peekIssuer(strings.Repeat("a", MaxTokenBytes+1)); ok {
		t.Error("an oversized token was decoded")
	}
}

// FuzzVerify: no input crashes Verify or gets through without keys.
func FuzzVerify(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlL3JlYWxtcy9jb3JwIn0.c2ln")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlL3JlYWxtcy9jb3JwIn0.")
	f.Add("a.b.c")
	now := time.Unix(1_800_000_000, 0)
	v, is := testVerifier(f, config.OIDCIssuer{MinRefreshInterval: config.Duration(time.Hour)}, now)
	is.credit, is.creditAt = 0, now // never fetch: no network in a fuzz test
	f.Fuzz(func(t *testing.T, tok string) {
		if id, err := v.Verify(t.Context(), tok); err == nil {
			t.Fatalf("%q verified as %+v without keys", tok, id)
		}
	})
}
