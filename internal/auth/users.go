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

	"github.com/kgate/kgate/internal/config"
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
	// Plan names the user's usage plan (auth.plans); its users-file
	// Limits still override the plan's.
	Plan string
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

// LoadUsers reads and parses a users file; its problems name the file.
func LoadUsers(path string) (*Users, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading users file: %w", err)
	}
	return parseUsers(newFile(path), b)
}

// ParseUsers parses a users file: a mapping of user names to entries.
// KastleX's passwd.yml (`name: {password_hash: "$2b$..."}`) is valid as it
// is. Every problem is reported (config.Problems), each with its line and
// key path, and none quotes a value.
func ParseUsers(b []byte) (*Users, error) { return parseUsers(newFile(""), b) }

func parseUsers(fp *config.FileProblems, b []byte) (*Users, error) {
	us := &Users{byName: map[string]*User{}}
	for _, p := range parseFile(fp, b) {
		key := config.Key("", p.Key)
		if err := validUserName(p.Key); err != nil {
			fp.At(p.KeyNode, key, "%v", err)
			continue
		}
		u := parseUser(fp, p, key)
		if len(u.PasswordHash) > 0 {
			if c, _ := bcrypt.Cost(u.PasswordHash); c > us.maxCost {
				us.maxCost = c
			}
		}
		us.byName[p.Key] = u
	}
	if err := fp.Err(); err != nil {
		return nil, err
	}
	return us, nil
}

func parseUser(fp *config.FileProblems, p config.Pair, key string) *User {
	u := &User{Name: p.Key}
	for _, f := range config.Pairs(fp, p.V, key) {
		k := config.Key(key, f.Key)
		switch f.Key {
		case "password_hash":
			s, ok := scalar(fp, f.V, k)
			if !ok || s == "" {
				continue
			}
			if _, err := bcrypt.Cost([]byte(s)); err != nil || !strings.HasPrefix(s, "$2") {
				fp.At(f.V, k, "is not a bcrypt hash (make one with `kgate passwd`)")
				continue
			}
			u.PasswordHash = []byte(s)
		case "groups":
			gs, _ := stringList(fp, f.V, k)
			for _, g := range gs {
				if err := validGroupName(g.value); err != nil {
					fp.At(g.node, g.key, "%v", err)
					continue
				}
				u.Groups = append(u.Groups, g.value)
			}
		case "limits":
			u.Limits = parseLimits(fp, f.V, k)
		case "plan":
			if s, ok := scalar(fp, f.V, k); ok {
				u.Plan = s
			}
		case "scram_sha_256":
			u.SCRAM256 = parseSCRAM(fp, f.V, k, 32)
		case "scram_sha_512":
			u.SCRAM512 = parseSCRAM(fp, f.V, k, 64)
		default:
			fp.At(f.KeyNode, k, "unknown key (known: password_hash, groups, limits, plan, scram_sha_256, scram_sha_512)")
		}
	}
	return u
}

func parseLimits(fp *config.FileProblems, n *yaml.Node, key string) *ratelimit.Override {
	o := &ratelimit.Override{}
	for _, f := range config.Pairs(fp, n, key) {
		k := config.Key(key, f.Key)
		switch f.Key {
		case "requests_per_second":
			if v, ok := floatValue(fp, f.V, k); ok {
				o.RequestsPerSecond = &v
			}
		case "bytes_per_second":
			if v, ok := rateValue(fp, f.V, k); ok {
				o.BytesPerSecond = &v
			}
		case "request_burst":
			v, ok := intValue(fp, f.V, k)
			if ok && v > 1<<30 {
				fp.At(f.V, k, "is too large")
				ok = false
			}
			if ok {
				b := int(v)
				o.RequestBurst = &b
			}
		case "byte_burst":
			if v, ok := intValue(fp, f.V, k); ok {
				o.ByteBurst = &v
			}
		case "daily_requests":
			if v, ok := intValue(fp, f.V, k); ok {
				o.DailyRequests = &v
			}
		case "daily_bytes":
			if v, ok := intValue(fp, f.V, k); ok {
				o.DailyBytes = &v
			}
		default:
			fp.At(f.KeyNode, k, "unknown key (known: requests_per_second, request_burst, bytes_per_second, byte_burst, daily_requests, daily_bytes)")
		}
	}
	return o
}

func parseSCRAM(fp *config.FileProblems, n *yaml.Node, key string, size int) *SCRAMCredential {
	c := &SCRAMCredential{}
	before := len(fp.Problems)
	var saltNode, saltedNode *yaml.Node
	for _, f := range config.Pairs(fp, n, key) {
		k := config.Key(key, f.Key)
		switch f.Key {
		case "salt", "salted_password":
			s, ok := scalar(fp, f.V, k)
			if !ok {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				fp.At(f.V, k, "must be base64")
				continue
			}
			if f.Key == "salt" {
				c.Salt, saltNode = b, f.V
			} else {
				c.SaltedPassword, saltedNode = b, f.V
			}
		case "iterations":
			v, ok := intValue(fp, f.V, k)
			if ok && (v < 4096 || v > 16384) {
				fp.At(f.V, k, "must be between 4096 and 16384 (Kafka's limits)")
				ok = false
			}
			if ok {
				c.Iterations = int32(v)
			}
		default:
			fp.At(f.KeyNode, k, "unknown key (known: salt, salted_password, iterations)")
		}
	}
	if len(fp.Problems) != before {
		return nil
	}
	if len(c.Salt) < 8 {
		fp.At(orNode(saltNode, n), config.Key(key, "salt"), "must hold at least 8 bytes")
	}
	if len(c.SaltedPassword) != size {
		fp.At(orNode(saltedNode, n), config.Key(key, "salted_password"), "must hold %d bytes", size)
	}
	if c.Iterations == 0 {
		c.Iterations = 4096
	}
	return c
}

func orNode(n, fallback *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return fallback
}

// validUserName accepts names usable in HTTP Basic (no colon), in SCRAM
// and in logs: letters, digits and . _ @ + - (1 to 255 bytes), that are
// valid principal names (ValidPrincipalName: not reserved, not starting
// with '_').
func validUserName(s string) error {
	if s == "" || len(s) > 255 {
		return fmt.Errorf("user names must be 1 to 255 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '@' || c == '+' || c == '-') {
			return fmt.Errorf("user names may hold letters, digits and . _ @ + - only")
		}
	}
	return ValidPrincipalName(s)
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
