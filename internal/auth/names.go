package auth

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kgate/kgate/internal/audit"
)

// Principal names come from several sources (the users file, client
// certificates, and later Kerberos, OIDC or API keys) and all of them meet
// the permissions file, where some forms have a meaning of their own: "*"
// is every authenticated caller, "anonymous" the unauthenticated one,
// "group:NAME" a group, {user} a template, a trailing '*' a prefix, and a
// leading '_' an internal topic. ValidPrincipalName is the one check every
// source goes through, so that no name can be read as one of those.

// Errors of ValidPrincipalName; each says what is wrong without quoting
// the name (it may be anything a certificate says).
// They all wrap one error, so that errors.Is tells a name rule from an
// overlap.
var (
	errNameRule       = errors.New("invalid principal name")
	ErrNameLength     = nameRule("principal names must be 1 to 255 bytes")
	ErrNameReserved   = nameRule("the name is reserved (anonymous, *, group:..., (unknown))")
	ErrNameInternal   = nameRule(`names starting with "_" are reserved for internal topics`)
	ErrNameTemplate   = nameRule(`names must not contain '*', '{' or '}' (patterns and templates of the permissions file)`)
	ErrNameSpace      = nameRule("names must not start or end with a space")
	ErrNameCharacters = nameRule("names must be valid UTF-8 of printable characters (no control, format or non-ASCII space characters)")
)

type nameError struct{ msg string }

func nameRule(msg string) error           { return &nameError{msg} }
func (e *nameError) Error() string        { return e.msg }
func (e *nameError) Is(target error) bool { return target == errNameRule }

// ValidPrincipalName returns nil if name may be a principal, else one of
// the ErrName errors. It refuses the permissions file's special entries
// ("*", "anonymous" and "group:..." in any case), audit's "(unknown)",
// names that would read as a pattern or template ('*', '{', '}'), names
// starting with '_' (internal topics: a {user} grant must never expand to
// one), leading or trailing spaces, and anything that is not printable
// UTF-8. It does not check overlaps with other principals' templates
// (Policy.CheckName does).
func ValidPrincipalName(name string) error {
	if name == "" || len(name) > 255 {
		return ErrNameLength
	}
	if strings.EqualFold(name, Anonymous) || name == everyone || name == audit.UnknownPrincipal ||
		len(name) >= len(groupPrefix) && strings.EqualFold(name[:len(groupPrefix)], groupPrefix) {
		return ErrNameReserved
	}
	if name[0] == '_' {
		return ErrNameInternal
	}
	if strings.ContainsAny(name, "*{}") {
		return ErrNameTemplate
	}
	if name[0] == ' ' || name[len(name)-1] == ' ' {
		return ErrNameSpace
	}
	if !utf8.ValidString(name) {
		return ErrNameCharacters
	}
	for _, r := range name {
		// IsPrint: letters, marks, numbers, punctuation, symbols and the
		// ASCII space; not controls, format characters (bidi overrides,
		// zero-width joiners) or other spaces.
		if !unicode.IsPrint(r) {
			return ErrNameCharacters
		}
	}
	return nil
}

// InternalName reports whether a topic or group name is internal:
// Kafka's (__consumer_offsets), Confluent's (_schemas, _confluent-*) and
// kgate's own (_kgate_*). Only admins, and grants that name the resource
// exactly, reach internal names; "all", "*", prefix patterns and
// templates never do.
func InternalName(name string) bool { return strings.HasPrefix(name, "_") }
