package oidc_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/auth/oidc"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/testutil"
)

// TestSignIns: the console's issuers are discovered once per refresh
// interval, concurrent callers share one fetch, and a failing discovery
// is tried again only after min_refresh_interval, so the public routes
// cannot make kgate hammer a provider.
func TestSignIns(t *testing.T) {
	p := testutil.StartOIDCProvider(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	v, err := oidc.New(oidc.Options{Now: clock, Issuers: []config.OIDCIssuer{
		{Issuer: p.Issuer, Audiences: []string{testutil.OIDCConsoleClient}, ConsoleClientID: testutil.OIDCConsoleClient},
		{Issuer: "https://no-console.example/", Audiences: []string{"kgate"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ss := v.SignIns(t.Context())
			if len(ss) != 1 || ss[0].AuthorizationEndpoint != p.Issuer+"auth" || ss[0].Scopes != "openid" || ss[0].ClientID != testutil.OIDCConsoleClient {
				t.Errorf("sign-ins: %+v", ss)
			}
		})
	}
	wg.Wait()
	if n := p.DiscoveryFetches(); n != 1 {
		t.Errorf("8 concurrent callers fetched discovery %d times, want 1", n)
	}
	advance(16 * time.Minute) // past the 15m refresh interval
	v.SignIns(t.Context())
	if n := p.DiscoveryFetches(); n != 2 {
		t.Errorf("after the refresh interval: %d fetches, want 2", n)
	}

	// A failing discovery (the document names another issuer: this one
	// is configured without the trailing slash) is an error entry, and
	// is asked again only after min_refresh_interval (10 s).
	bad, err := oidc.New(oidc.Options{Now: clock, Issuers: []config.OIDCIssuer{{Issuer: strings.TrimSuffix(p.Issuer, "/"),
		Audiences: []string{"kgate"}, ConsoleClientID: testutil.OIDCConsoleClient}}})
	if err != nil {
		t.Fatal(err)
	}
	before := p.DiscoveryFetches()
	for range 3 {
		if ss := bad.SignIns(t.Context()); len(ss) != 1 || ss[0].Error == "" {
			t.Fatalf("sign-ins with a failing discovery: %+v", ss)
		}
	}
	if n := p.DiscoveryFetches() - before; n != 1 {
		t.Errorf("3 calls within 10 s of a failure fetched %d times, want 1", n)
	}
	advance(11 * time.Second)
	bad.SignIns(t.Context())
	if n := p.DiscoveryFetches() - before; n != 2 {
		t.Errorf("after 10 s: %d fetches, want 2", n)
	}

	// Unreachable: an error entry; an exchange fails without being a
	// refusal (the caller is not at fault).
	p.Close()
	advance(16 * time.Minute)
	for range 3 {
		if ss := v.SignIns(t.Context()); len(ss) != 1 || ss[0].Error == "" || ss[0].AuthorizationEndpoint != "" {
			t.Fatalf("sign-ins with the provider down: %+v", ss)
		}
	}
	_, _, err = v.Exchange(t.Context(), p.Issuer, "code", "verifier", "http://127.0.0.1/ui/")
	var refused *oidc.Error
	if err == nil || errors.As(err, &refused) {
		t.Errorf("exchange with the provider down: %v, want an error that is not a refusal", err)
	}
	if _, _, err := v.Exchange(t.Context(), "https://no-console.example/", "c", "v", "http://127.0.0.1/ui/"); !errors.Is(err, oidc.ErrNoSignIn) {
		t.Errorf("exchange with an issuer without a console client: %v", err)
	}
}

// TestExchangeRefused: a code the provider never issued is refused with
// the provider's error, as an *oidc.Error (the caller's fault).
func TestExchangeRefused(t *testing.T) {
	p := testutil.StartOIDCProvider(t)
	v, err := oidc.New(oidc.Options{Issuers: []config.OIDCIssuer{
		{Issuer: p.Issuer, Audiences: []string{testutil.OIDCConsoleClient}, ConsoleClientID: testutil.OIDCConsoleClient}}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = v.Exchange(t.Context(), p.Issuer, "made-up", "verifier", "http://127.0.0.1:8082/ui/")
	var refused *oidc.Error
	if !errors.As(err, &refused) || refused.Reason == "" || !contains(refused.Reason, "the provider refused the sign-in: invalid_grant") {
		t.Errorf("a made-up code: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
