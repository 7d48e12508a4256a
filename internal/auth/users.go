package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	sha512pkg "crypto/sha512"
	"encoding/base64"
	"fmt"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/kgate/kgate/internal/ratelimit"
)

// User is one entry of the users file.
type User struct {
	Name string
	// PasswordHash is a bcrypt hash; empty for users who authenticate
	// only with a client certificate (they still get groups and limits).
	PasswordHash []byte
	Groups       []string
	Limits       *ratelimit.Override
	// SCRAM credentials for the embedded broker's Kafka port; nil when
	// the user has no Kafka-port access.
	SCRAM256 *SCRAMCredential
	SCRAM512 *SCRAMCredential
}

// SCRAMCredential is a salted SCRAM password as Kafka's
// AlterUserScramCredentials carries it. The salted password lets its
// holder authenticate over SCRAM, so the users file must stay private.
type SCRAMCredential struct {
	Salt           []byte
	SaltedPassword []byte
	Iterations     int32
}

// Users is a parsed users file. It is immutable once parsed.
type Users struct {
	byName map[string]*User
	// maxCost is the highest bcrypt cost in the file; unknown users pay a
	// dummy check at this cost.
	maxCost int
}

// Lookup returns the named user, or nil.
func (u *Users) Lookup(name string) *User {
	if u == nil {
		return nil
	}
	return u.byName[name]
}

// Len returns the number of users.
func (u *Users) Len() int {
	if u == nil {
		return 0
	}
	return len(u.byName)
}

// Names returns the user names, sorted.
func (u *Users) Names() []string {
	if u == nil {
		return nil
	}
	out := make([]string, 0, len(u.byName))
	for n := range u.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LoadUsers reads and parses a users file.
func LoadUsers(path string) (*Users, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading users file: %w", err)
	}
	u, err := ParseUsers(b)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return u, nil
}

// ParseUsers parses a users file: a mapping of user names to entries.
// KastleX's passwd.yml (`name: {password_hash: "$2b$..."}`) is valid as it
// is. Errors name the line and key and never quote a value.
func ParseUsers(b []byte) (*Users, error) {
	root, err := parseDoc(b)
	if err != nil {
		return nil, err
	}
	us := &Users{byName: map[string]*User{}}
	if root == nil {
		return us, nil
	}
	top, err := pairs(root, "users file")
	if err != nil {
		return nil, err
	}
	for _, p := range top {
		if err := validUserName(p.key); err != nil {
			return nil, lineErr(p.k, "user %q: %v", p.key, err)
		}
		u, err := parseUser(p)
		if err != nil {
			return nil, err
		}
		if len(u.PasswordHash) > 0 {
			if c, _ := bcrypt.Cost(u.PasswordHash); c > us.maxCost {
				us.maxCost = c
			}
		}
		us.byName[p.key] = u
	}
	return us, nil
}

func parseUser(p pair) (*User, error) {
	u := &User{Name: p.key}
	fields, err := pairs(p.v, fmt.Sprintf("user %q", p.key))
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		what := fmt.Sprintf("user %q: %s", p.key, f.key)
		switch f.key {
		case "password_hash":
			s, err := scalar(f.v, what)
			if err != nil {
				return nil, err
			}
			if s == "" {
				continue
			}
			if _, err := bcrypt.Cost([]byte(s)); err != nil || !strings.HasPrefix(s, "$2") {
				return nil, lineErr(f.v, "%s is not a bcrypt hash (make one with `kgate passwd`)", what)
			}
			u.PasswordHash = []byte(s)
		case "groups":
			gs, err := stringList(f.v, what)
			if err != nil {
				return nil, err
			}
			for _, g := range gs {
				if err := validGroupName(g); err != nil {
					return nil, lineErr(f.v, "%s: %v", what, err)
				}
			}
			u.Groups = gs
		case "limits":
			o, err := parseLimits(f.v, what)
			if err != nil {
				return nil, err
			}
			u.Limits = o
		case "scram_sha_256", "scram_sha_512":
			size := 32
			if f.key == "scram_sha_512" {
				size = 64
			}
			c, err := parseSCRAM(f.v, what, size)
			if err != nil {
				return nil, err
			}
			if size == 32 {
				u.SCRAM256 = c
			} else {
				u.SCRAM512 = c
			}
		default:
			return nil, lineErr(f.k, "user %q: unknown field %q (known: password_hash, groups, limits, scram_sha_256, scram_sha_512)", p.key, f.key)
		}
	}
	return u, nil
}

func parseLimits(n *yaml.Node, what string) (*ratelimit.Override, error) {
	fields, err := pairs(n, what)
	if err != nil {
		return nil, err
	}
	o := &ratelimit.Override{}
	for _, f := range fields {
		w := what + "." + f.key
		switch f.key {
		case "requests_per_second":
			v, err := floatValue(f.v, w)
			if err != nil {
				return nil, err
			}
			o.RequestsPerSecond = &v
		case "bytes_per_second":
			v, err := floatValue(f.v, w)
			if err != nil {
				return nil, err
			}
			o.BytesPerSecond = &v
		case "request_burst":
			v, err := intValue(f.v, w)
			if err != nil {
				return nil, err
			}
			if v > 1<<30 {
				return nil, lineErr(f.v, "%s is too large", w)
			}
			b := int(v)
			o.RequestBurst = &b
		case "byte_burst":
			v, err := intValue(f.v, w)
			if err != nil {
				return nil, err
			}
			o.ByteBurst = &v
		case "daily_requests":
			v, err := intValue(f.v, w)
			if err != nil {
				return nil, err
			}
			o.DailyRequests = &v
		case "daily_bytes":
			v, err := intValue(f.v, w)
			if err != nil {
				return nil, err
			}
			o.DailyBytes = &v
		default:
			return nil, lineErr(f.k, "%s: unknown limit %q (known: requests_per_second, request_burst, bytes_per_second, byte_burst, daily_requests, daily_bytes)", what, f.key)
		}
	}
	return o, nil
}

func parseSCRAM(n *yaml.Node, what string, size int) (*SCRAMCredential, error) {
	fields, err := pairs(n, what)
	if err != nil {
		return nil, err
	}
	c := &SCRAMCredential{}
	for _, f := range fields {
		w := what + "." + f.key
		switch f.key {
		case "salt", "salted_password":
			s, err := scalar(f.v, w)
			if err != nil {
				return nil, err
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, lineErr(f.v, "%s must be base64", w)
			}
			if f.key == "salt" {
				c.Salt = b
			} else {
				c.SaltedPassword = b
			}
		case "iterations":
			v, err := intValue(f.v, w)
			if err != nil {
				return nil, err
			}
			if v < 4096 || v > 16384 {
				return nil, lineErr(f.v, "%s must be between 4096 and 16384 (Kafka's limits)", w)
			}
			c.Iterations = int32(v)
		default:
			return nil, lineErr(f.k, "%s: unknown field %q (known: salt, salted_password, iterations)", what, f.key)
		}
	}
	if len(c.Salt) < 8 {
		return nil, lineErr(n, "%s.salt must hold at least 8 bytes", what)
	}
	if len(c.SaltedPassword) != size {
		return nil, lineErr(n, "%s.salted_password must hold %d bytes", what, size)
	}
	if c.Iterations == 0 {
		c.Iterations = 4096
	}
	return c, nil
}

// validUserName accepts names usable in HTTP Basic (no colon), in SCRAM
// and in logs: letters, digits and . _ @ + - (1 to 255 bytes). The names
// of the permissions file's special entries are reserved.
func validUserName(s string) error {
	if s == "" || len(s) > 255 {
		return fmt.Errorf("names must be 1 to 255 characters")
	}
	if s == Anonymous || s == "*" || strings.HasPrefix(s, "group:") {
		return fmt.Errorf("the name is reserved")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '@' || c == '+' || c == '-') {
			return fmt.Errorf("names may hold letters, digits and . _ @ + - only")
		}
	}
	return nil
}

func validGroupName(s string) error {
	if s == "" || len(s) > 255 {
		return fmt.Errorf("group names must be 1 to 255 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("group names may hold letters, digits and . _ - only")
		}
	}
	return nil
}

// NewSCRAMCredential salts password for SCRAM-SHA-256 (size 32) or
// SCRAM-SHA-512 (size 64) with a random salt, as `kgate passwd --scram`
// writes it into the users file.
func NewSCRAMCredential(sha512 bool, password string, iterations int) (*SCRAMCredential, error) {
	if iterations < 4096 || iterations > 16384 {
		return nil, fmt.Errorf("SCRAM iterations must be between 4096 and 16384")
	}
	salt := make([]byte, 24)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	h, size := sha256.New, sha256.Size
	if sha512 {
		h, size = sha512pkg.New, sha512pkg.Size
	}
	sp, err := pbkdf2.Key(h, password, salt, iterations, size)
	if err != nil {
		return nil, err
	}
	return &SCRAMCredential{Salt: salt, SaltedPassword: sp, Iterations: int32(iterations)}, nil
}
