package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/kgate/kgate/internal/config"
)

// issuer is one configured issuer and its cached keys.
type issuer struct {
	cfg    config.OIDCIssuer
	algs   []jose.SignatureAlgorithm
	client *http.Client
	logger *slog.Logger
	now    func() time.Time

	// discoverMu makes the console's discovery fetches one at a time.
	discoverMu sync.Mutex

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time
	lastErr   error
	failures  int64
	// inflight is closed when the fetch under way ends (nil: none).
	inflight chan struct{}
	// credit bounds the fetches unknown key ids cause: a bucket of
	// unknownKidBurst refilled at one per min_refresh_interval, as of
	// creditAt.
	credit   float64
	creditAt time.Time
	// discovered are the endpoints the console's sign-in uses, as of
	// discoveredAt (zero: not fetched yet); discoverErr the last
	// discovery's failure, at discoverFailedAt.
	discovered       endpoints
	discoveredAt     time.Time
	discoverErr      error
	discoverFailedAt time.Time
}

// unknownKidBurst is how many fetches unknown key ids may cause in a row
// (a rotation right after a fetch must not wait), before they are held
// to one per min_refresh_interval.
const unknownKidBurst = 3

// takeCredit reports whether an unknown key id may fetch the keys now
// (is.mu held).
func (is *issuer) takeCredit() bool {
	now := is.now()
	if is.creditAt.IsZero() {
		is.credit = unknownKidBurst
	} else {
		is.credit = min(unknownKidBurst, is.credit+float64(now.Sub(is.creditAt))/float64(is.cfg.MinRefreshInterval.D()))
	}
	is.creditAt = now
	if is.credit < 1 {
		return false
	}
	is.credit--
	return true
}

func (is *issuer) status() Status {
	is.mu.Lock()
	defer is.mu.Unlock()
	s := Status{Issuer: is.cfg.Issuer, Keys: len(is.keys), Fetched: is.fetchedAt, Failures: is.failures}
	if is.lastErr != nil {
		s.Err = is.lastErr.Error()
	}
	return s
}

// run fetches the keys at once and every refresh interval, retrying a
// failure after 1 s, doubling up to a minute (or the interval).
func (is *issuer) run(ctx context.Context) {
	backoff := time.Second
	for {
		err := is.fetch(ctx)
		wait := is.cfg.RefreshInterval.D()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			wait = min(backoff, wait)
			backoff = min(2*backoff, time.Minute)
		} else {
			backoff = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// fetch gets the keys, or joins the fetch under way; it keeps the keys in
// hand when it fails.
func (is *issuer) fetch(ctx context.Context) error {
	is.mu.Lock()
	if ch := is.inflight; ch != nil {
		is.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		is.mu.Lock()
		defer is.mu.Unlock()
		return is.lastErr
	}
	ch := make(chan struct{})
	is.inflight = ch
	is.mu.Unlock()

	// The fetch outlives a request that gave up on it (others may wait).
	keys, err := is.load(context.WithoutCancel(ctx))

	is.mu.Lock()
	is.inflight = nil
	if err != nil {
		is.failures++
		is.lastErr = err
		is.logger.Warn("oidc keys fetch failed", "err", err, "keys_in_hand", len(is.keys))
	} else {
		if len(is.keys) > 0 && !sameKeys(is.keys, keys) {
			is.logger.Info("oidc keys changed", "keys", len(keys))
		}
		is.keys, is.fetchedAt, is.lastErr = keys, is.now(), nil
	}
	is.mu.Unlock()
	close(ch)
	return err
}

// load fetches the key set: from jwks_url, or discovery's jwks_uri.
func (is *issuer) load(ctx context.Context) ([]jose.JSONWebKey, error) {
	u := is.cfg.JWKSURL
	if u == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		disc := strings.TrimSuffix(is.cfg.Issuer, "/") + "/.well-known/openid-configuration"
		if err := fetchJSON(ctx, is.client, disc, &doc); err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		if doc.Issuer != is.cfg.Issuer {
			return nil, fmt.Errorf("discovery: the document's issuer %q is not %q", doc.Issuer, is.cfg.Issuer)
		}
		if err := keyURL(doc.JWKSURI); err != nil {
			return nil, fmt.Errorf("discovery: jwks_uri: %w", err)
		}
		u = doc.JWKSURI
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := fetchJSON(ctx, is.client, u, &set); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			// A key kgate cannot use (another kty, say) does not spoil
			// the others.
			is.logger.Debug("oidc key skipped", "err", err)
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if !k.IsPublic() {
			k = k.Public() // a published private key is used as public only
		}
		if k.Key == nil || !k.Valid() {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("keys: %s holds no usable signing key", u)
	}
	return keys, nil
}

// keyURL checks a discovered key URL as configuration checks jwks_url.
func keyURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", u)
	}
	if p.Scheme == "https" {
		return nil
	}
	port := p.Port()
	if port == "" {
		port = "80"
	}
	if p.Scheme == "http" && config.IsLoopback(p.Hostname()+":"+port) {
		return nil
	}
	return fmt.Errorf("%q must be https (http only on loopback)", u)
}

func sameKeys(a, b []jose.JSONWebKey) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].KeyID != b[i].KeyID {
			return false
		}
	}
	return true
}

// hasKey reports whether kid (empty: any key) is among the keys in hand.
func (is *issuer) hasKey(kid string) bool {
	is.mu.Lock()
	defer is.mu.Unlock()
	for _, k := range is.keys {
		if kid == "" || k.KeyID == kid {
			return true
		}
	}
	return false
}

// candidates are the cached keys that may have signed a token with kid
// and alg; known says whether kid is among the cached keys.
func (is *issuer) candidates(kid, alg string) (out []jose.JSONWebKey, known bool, fetched bool) {
	is.mu.Lock()
	defer is.mu.Unlock()
	for _, k := range is.keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		known = true
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		out = append(out, k)
	}
	return out, known, !is.fetchedAt.IsZero()
}

// verify checks the signature of jws with the issuer's keys, fetching
// them once when kid is unknown (or none were fetched yet) and the last
// fetch is at least min_refresh_interval old.
func (is *issuer) verify(ctx context.Context, jws *jose.JSONWebSignature, kid, alg string) ([]byte, error) {
	keys, known, fetched := is.candidates(kid, alg)
	if !known {
		// Join a fetch under way, or start one if the credit allows.
		is.mu.Lock()
		due := is.inflight != nil || is.takeCredit()
		is.mu.Unlock()
		if due {
			_ = is.fetch(ctx)
			keys, known, fetched = is.candidates(kid, alg)
		}
	}
	if !fetched {
		reason := errNoKeys.Error()
		if st := is.status(); st.Err != "" {
			reason += " (" + st.Err + ")"
		}
		return nil, refuse("%s", reason)
	}
	if !known {
		return nil, refuse("unknown key id")
	}
	if len(keys) == 0 {
		return nil, refuse("no key of the issuer is for algorithm %s", alg)
	}
	var last error
	for _, k := range keys {
		payload, err := jws.Verify(k.Key)
		if err == nil {
			return payload, nil
		}
		last = err
	}
	if errors.Is(last, jose.ErrCryptoFailure) {
		return nil, refuse("bad signature")
	}
	return nil, refuse("signature not verified: %v", last)
}
