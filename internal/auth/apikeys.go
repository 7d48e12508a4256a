package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/kgate/kgate/internal/kafka"
	"github.com/kgate/kgate/internal/ktable"
)

// An API key is "kg_" + a 16-hex-digit id + "_" + 43 base64url characters
// (256 random bits). The id finds the key's record; the secret is checked
// against the SHA-256 kept there, in constant time. 256 random bits need
// no slow hash: there is nothing to guess, and the check costs a
// microsecond on every request instead of a bcrypt.
const (
	// APIKeyPrefix starts every API key, so that secret scanners and
	// people recognise one.
	APIKeyPrefix = "kg_"
	apiKeyIDLen  = 16
	apiSecretLen = 43
	apiKeyLen    = len(APIKeyPrefix) + apiKeyIDLen + 1 + apiSecretLen
	apiKeyPrefix = "k/" // the records' keys in the topic
)

// Errors of API keys (wrapped in *Error at the door).
var (
	ErrAPIKeyUnknown = errors.New("unknown API key")
	ErrAPIKeyRevoked = errors.New("API key revoked")
	ErrAPIKeyExpired = errors.New("API key expired")
	// ErrAPIKeysDisabled: no key store (no users file, or no Kafka).
	ErrAPIKeysDisabled = errors.New("API keys are not enabled")
)

// APIKey describes one key (never its secret).
type APIKey struct {
	ID          string    `json:"id"`
	User        string    `json:"user"`
	Plan        string    `json:"plan,omitempty"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
	CreatedBy   string    `json:"created_by,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
	Revoked     time.Time `json:"revoked,omitzero"`
	RevokedBy   string    `json:"revoked_by,omitempty"`
}

// apiKeyRecord is a key's record in the topic: the description and the
// secret's SHA-256.
type apiKeyRecord struct {
	APIKey
	Hash string `json:"sha256"`
}

// LooksLikeAPIKey reports whether s has an API key's shape.
func LooksLikeAPIKey(s string) bool {
	_, _, ok := splitAPIKey(s)
	return ok
}

func splitAPIKey(s string) (id, secret string, ok bool) {
	if len(s) != apiKeyLen || !strings.HasPrefix(s, APIKeyPrefix) || s[len(APIKeyPrefix)+apiKeyIDLen] != '_' {
		return "", "", false
	}
	id = s[len(APIKeyPrefix) : len(APIKeyPrefix)+apiKeyIDLen]
	secret = s[len(APIKeyPrefix)+apiKeyIDLen+1:]
	if _, err := hex.DecodeString(id); err != nil {
		return "", "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(secret); err != nil {
		return "", "", false
	}
	return id, secret, true
}

// APIKeys keeps the API keys in a compacted topic every gateway replays
// and follows: a key created or revoked on one replica holds on all of
// them within a fetch round trip. The topic holds ids, users, plans,
// times and the secrets' SHA-256, never a secret. It is safe for
// concurrent use.
type APIKeys struct {
	table   *ktable.Table
	logger  *slog.Logger
	sf      singleflight.Group
	changed func()

	mu   sync.RWMutex
	byID map[string]apiKeyRecord
}

// OpenAPIKeys creates the topic if needed and replays it; changed, if
// set, is called after a key is revoked (standing may change).
func OpenAPIKeys(ctx context.Context, kc *kafka.Client, topic string, segment time.Duration, logger *slog.Logger, changed func()) (*APIKeys, error) {
	k := &APIKeys{logger: logger, changed: changed, byID: map[string]apiKeyRecord{}}
	t, err := ktable.Open(ctx, kc, ktable.Options{Topic: topic, SegmentInterval: segment, Apply: k.apply, Logger: logger})
	if err != nil {
		return nil, err
	}
	k.table = t
	return k, nil
}

func (k *APIKeys) apply(key string, value []byte) {
	if !strings.HasPrefix(key, apiKeyPrefix) {
		return
	}
	id := strings.TrimPrefix(key, apiKeyPrefix)
	var r apiKeyRecord
	if value != nil {
		if err := json.Unmarshal(value, &r); err != nil || r.ID != id || r.User == "" || len(r.Hash) != 64 {
			k.logger.Warn("ignoring malformed API key record", "topic", k.table.Topic(), "key", key, "err", err)
			return
		}
	}
	k.mu.Lock()
	old, had := k.byID[id]
	if value == nil {
		delete(k.byID, id)
	} else {
		k.byID[id] = r
	}
	k.mu.Unlock()
	if k.changed != nil && had && (value == nil || !r.Revoked.IsZero() && old.Revoked.IsZero()) {
		k.changed()
	}
}

// Run follows the topic until ctx is done.
func (k *APIKeys) Run(ctx context.Context) error { return k.table.Run(ctx) }

// Create makes a key for user and returns it (the only time its secret
// exists outside the caller) with its description.
func (k *APIKeys) Create(ctx context.Context, desc APIKey) (string, APIKey, error) {
	var idb [apiKeyIDLen / 2]byte
	var sec [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", APIKey{}, err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", APIKey{}, err
	}
	desc.ID = hex.EncodeToString(idb[:])
	secret := base64.RawURLEncoding.EncodeToString(sec[:])
	sum := sha256.Sum256([]byte(secret))
	desc.Created = time.Now().UTC().Truncate(time.Millisecond)
	desc.Revoked, desc.RevokedBy = time.Time{}, ""
	if err := k.put(ctx, apiKeyRecord{APIKey: desc, Hash: hex.EncodeToString(sum[:])}); err != nil {
		return "", APIKey{}, err
	}
	return APIKeyPrefix + desc.ID + "_" + secret, desc, nil
}

func (k *APIKeys) put(ctx context.Context, r apiKeyRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := k.table.Put(ctx, ktable.KV{Key: apiKeyPrefix + r.ID, Value: v}); err != nil {
		return fmt.Errorf("recording API key: %w", err)
	}
	return nil
}

// Revoke marks the key id revoked by by; found is false when there is no
// such key (or it was revoked before).
func (k *APIKeys) Revoke(ctx context.Context, id, by string) (APIKey, bool, error) {
	k.mu.RLock()
	r, ok := k.byID[id]
	k.mu.RUnlock()
	if !ok || !r.Revoked.IsZero() {
		return APIKey{}, false, nil
	}
	r.Revoked, r.RevokedBy = time.Now().UTC().Truncate(time.Millisecond), by
	if err := k.put(ctx, r); err != nil {
		return APIKey{}, false, err
	}
	return r.APIKey, true, nil
}

// List returns the keys of user (every key when user is empty), revoked
// ones included, by creation time.
func (k *APIKeys) List(user string) []APIKey {
	k.mu.RLock()
	out := []APIKey{}
	for _, r := range k.byID {
		if user == "" || r.User == user {
			out = append(out, r.APIKey)
		}
	}
	k.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Check returns the key a secret is, or ErrAPIKeyUnknown, Revoked or
// Expired. A key this replica has not seen yet (created a moment ago on
// another) is looked up again after catching up with the topic.
func (k *APIKeys) Check(ctx context.Context, key string, now time.Time) (APIKey, error) {
	id, secret, ok := splitAPIKey(key)
	if !ok {
		return APIKey{}, ErrAPIKeyUnknown
	}
	k.mu.RLock()
	r, found := k.byID[id]
	k.mu.RUnlock()
	if !found {
		_, _, _ = k.sf.Do("catchup", func() (any, error) {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			return nil, k.table.CatchUp(cctx)
		})
		k.mu.RLock()
		r, found = k.byID[id]
		k.mu.RUnlock()
	}
	sum := sha256.Sum256([]byte(secret))
	want, _ := hex.DecodeString(r.Hash)
	if !found || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return APIKey{}, ErrAPIKeyUnknown
	}
	return r.APIKey, keyStanding(r.APIKey, now)
}

// Stands reports whether the key id is still live at now.
func (k *APIKeys) Stands(id string, now time.Time) error {
	k.mu.RLock()
	r, ok := k.byID[id]
	k.mu.RUnlock()
	if !ok {
		return ErrAPIKeyRevoked
	}
	return keyStanding(r.APIKey, now)
}

func keyStanding(r APIKey, now time.Time) error {
	switch {
	case !r.Revoked.IsZero():
		return ErrAPIKeyRevoked
	case !r.Expires.IsZero() && !now.Before(r.Expires):
		return ErrAPIKeyExpired
	}
	return nil
}
