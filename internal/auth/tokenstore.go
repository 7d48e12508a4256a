package auth

import (
	"context"
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

// ErrTokenRevoked is returned for a token the store does not hold: revoked,
// expired and cleaned up, or never issued by this cluster of gateways.
var ErrTokenRevoked = errors.New("token revoked or unknown")

// TokenStore keeps the issued tokens in a compacted topic that every
// gateway replays at start and follows. A token is valid only while its
// record exists (an allowlist: a revocation is a tombstone), and a user's
// revoke-all marker refuses every token of that user issued before it,
// including tokens another replica issued a moment before. The topic holds
// token ids, subjects and times, never the tokens. It is safe for
// concurrent use.
type TokenStore struct {
	table   *ktable.Table
	logger  *slog.Logger
	sf      singleflight.Group
	changed func()

	// mu guards the maps below, which mirror the topic.
	mu            sync.RWMutex
	byID          map[string]tokenRecord
	bySub         map[string]map[string]struct{}
	revokedBefore map[string]int64 // user -> unix ms
}

type tokenRecord struct {
	Sub       string `json:"sub"`
	IssuedMs  int64  `json:"iat_ms"`
	ExpiresMs int64  `json:"exp_ms"`
}

type userRecord struct {
	RevokedBeforeMs int64 `json:"revoked_before_ms"`
}

// TokenInfo describes one live token (for the admin API).
type TokenInfo struct {
	ID        string    `json:"jti"`
	Subject   string    `json:"sub"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

const (
	tokenKeyPrefix = "t/"
	userKeyPrefix  = "u/"
)

// OpenTokenStore creates the topic if needed and replays it.
// changed, if set, is called after every record applied (a token issued
// or revoked on any replica).
func OpenTokenStore(ctx context.Context, kc *kafka.Client, topic string, segment time.Duration, logger *slog.Logger, changed func()) (*TokenStore, error) {
	s := &TokenStore{
		logger:        logger,
		changed:       changed,
		byID:          map[string]tokenRecord{},
		bySub:         map[string]map[string]struct{}{},
		revokedBefore: map[string]int64{},
	}
	t, err := ktable.Open(ctx, kc, ktable.Options{Topic: topic, SegmentInterval: segment, Apply: s.apply, Logger: logger})
	if err != nil {
		return nil, err
	}
	s.table = t
	return s, nil
}

func (s *TokenStore) apply(key string, value []byte) {
	// A token issued changes nobody's standing; a token removed or a
	// user's tokens revoked may.
	if s.changed != nil && (value == nil || strings.HasPrefix(key, userKeyPrefix)) {
		defer s.changed()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasPrefix(key, tokenKeyPrefix):
		id := strings.TrimPrefix(key, tokenKeyPrefix)
		if old, ok := s.byID[id]; ok {
			delete(s.bySub[old.Sub], id)
			if len(s.bySub[old.Sub]) == 0 {
				delete(s.bySub, old.Sub)
			}
			delete(s.byID, id)
		}
		if value == nil {
			return
		}
		var r tokenRecord
		if err := json.Unmarshal(value, &r); err != nil || r.Sub == "" {
			s.logger.Warn("ignoring malformed token record", "topic", s.table.Topic(), "err", err)
			return
		}
		s.byID[id] = r
		if s.bySub[r.Sub] == nil {
			s.bySub[r.Sub] = map[string]struct{}{}
		}
		s.bySub[r.Sub][id] = struct{}{}
	case strings.HasPrefix(key, userKeyPrefix):
		user := strings.TrimPrefix(key, userKeyPrefix)
		if value == nil {
			delete(s.revokedBefore, user)
			return
		}
		var r userRecord
		if err := json.Unmarshal(value, &r); err != nil {
			s.logger.Warn("ignoring malformed token record", "topic", s.table.Topic(), "err", err)
			return
		}
		if r.RevokedBeforeMs > s.revokedBefore[user] {
			s.revokedBefore[user] = r.RevokedBeforeMs
		}
	}
}

// Run follows the topic and removes expired tokens every interval until
// ctx is done.
func (s *TokenStore) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.cleanup(ctx, 5*time.Minute)
	}()
	err := s.table.Run(ctx)
	wg.Wait()
	return err
}

func (s *TokenStore) cleanup(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-time.Minute).UnixMilli()
		var kvs []ktable.KV
		s.mu.RLock()
		for id, r := range s.byID {
			if r.ExpiresMs < cutoff {
				kvs = append(kvs, ktable.KV{Key: tokenKeyPrefix + id})
			}
		}
		s.mu.RUnlock()
		if len(kvs) == 0 {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := s.table.Put(pctx, kvs...); err != nil && ctx.Err() == nil {
			s.logger.Warn("removing expired tokens", "err", err)
		}
		cancel()
	}
}

// Add records a newly issued token, issued at the given time; it returns
// once the record is durable and applied here.
func (s *TokenStore) Add(ctx context.Context, c *Claims, issued time.Time) error {
	// The issue time kept here has millisecond precision (the JWT's iat
	// has seconds), which a revoke-all marker is compared against.
	v, err := json.Marshal(tokenRecord{Sub: c.Subject, IssuedMs: issued.UnixMilli(), ExpiresMs: c.ExpiresAt.UnixMilli()})
	if err != nil {
		return err
	}
	if err := s.table.Put(ctx, ktable.KV{Key: tokenKeyPrefix + c.ID, Value: v}); err != nil {
		return fmt.Errorf("recording token: %w", err)
	}
	return nil
}

// Check returns nil if the token jti of sub is live. A token this replica
// has not seen yet (issued a moment ago by another replica) is looked up
// again after catching up with the topic.
func (s *TokenStore) Check(ctx context.Context, id, sub string) error {
	if err := s.check(id, sub); !errors.Is(err, errUnseen) {
		return err
	}
	_, _, _ = s.sf.Do("catchup", func() (any, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		return nil, s.table.CatchUp(cctx)
	})
	if err := s.check(id, sub); err != nil {
		return ErrTokenRevoked
	}
	return nil
}

var errUnseen = errors.New("token not seen")

func (s *TokenStore) check(id, sub string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.byID[id]
	if !ok {
		return errUnseen
	}
	if r.Sub != sub {
		return ErrTokenRevoked
	}
	if rb := s.revokedBefore[sub]; rb != 0 && r.IssuedMs <= rb {
		return ErrTokenRevoked
	}
	if r.ExpiresMs <= time.Now().UnixMilli() {
		return ErrTokenRevoked
	}
	return nil
}

// RevokeUser revokes every token of user (on every replica) and returns how
// many live tokens it knew of.
func (s *TokenStore) RevokeUser(ctx context.Context, user string) (int, error) {
	_ = s.table.CatchUp(ctx)
	v, err := json.Marshal(userRecord{RevokedBeforeMs: time.Now().UnixMilli()})
	if err != nil {
		return 0, err
	}
	kvs := []ktable.KV{{Key: userKeyPrefix + user, Value: v}}
	s.mu.RLock()
	for id := range s.bySub[user] {
		kvs = append(kvs, ktable.KV{Key: tokenKeyPrefix + id})
	}
	s.mu.RUnlock()
	if err := s.table.Put(ctx, kvs...); err != nil {
		return 0, fmt.Errorf("revoking tokens: %w", err)
	}
	return len(kvs) - 1, nil
}

// Trim revokes user's oldest live tokens beyond the newest keep (on every
// replica) and returns their ids.
func (s *TokenStore) Trim(ctx context.Context, user string, keep int) ([]string, error) {
	live := s.List(user)
	if len(live) <= keep {
		return nil, nil
	}
	var kvs []ktable.KV
	var ids []string
	for _, t := range live[:len(live)-keep] {
		kvs = append(kvs, ktable.KV{Key: tokenKeyPrefix + t.ID})
		ids = append(ids, t.ID)
	}
	if err := s.table.Put(ctx, kvs...); err != nil {
		return nil, fmt.Errorf("revoking the oldest tokens: %w", err)
	}
	return ids, nil
}

// RevokeID revokes one token; found is false if no live token has that id.
func (s *TokenStore) RevokeID(ctx context.Context, id string) (sub string, found bool, err error) {
	_ = s.table.CatchUp(ctx)
	s.mu.RLock()
	r, ok := s.byID[id]
	s.mu.RUnlock()
	if !ok {
		return "", false, nil
	}
	if err := s.table.Put(ctx, ktable.KV{Key: tokenKeyPrefix + id}); err != nil {
		return "", false, fmt.Errorf("revoking token: %w", err)
	}
	return r.Sub, true, nil
}

// List returns user's live tokens, oldest first (by issue time, then id).
func (s *TokenStore) List(user string) []TokenInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := time.Now().UnixMilli()
	out := []TokenInfo{}
	for id := range s.bySub[user] {
		r := s.byID[id]
		if r.ExpiresMs <= now || r.IssuedMs <= s.revokedBefore[user] {
			continue
		}
		out = append(out, TokenInfo{ID: id, Subject: r.Sub, IssuedAt: time.UnixMilli(r.IssuedMs).UTC(), ExpiresAt: time.UnixMilli(r.ExpiresMs).UTC()})
	}
	// Oldest first; tokens issued in the same millisecond by id, so that
	// replicas trimming at once pick the same ones.
	sort.Slice(out, func(i, j int) bool {
		if !out[i].IssuedAt.Equal(out[j].IssuedAt) {
			return out[i].IssuedAt.Before(out[j].IssuedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}
