package schemareg

import "strings"

// Level is a compatibility level.
type Level string

// The compatibility levels, as Confluent names them.
const (
	None               Level = "NONE"
	Backward           Level = "BACKWARD"
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD"
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL"
	FullTransitive     Level = "FULL_TRANSITIVE"
)

// DefaultLevel is the global level until one is set, as in Confluent.
const DefaultLevel = Backward

// ParseLevel reads a level, case-insensitively as Confluent does.
func ParseLevel(s string) (Level, bool) {
	switch l := Level(strings.ToUpper(s)); l {
	case None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive:
		return l, true
	}
	return "", false
}

// backward: the new schema reads data written with the old ones.
func (l Level) backward() bool {
	return l == Backward || l == BackwardTransitive || l == Full || l == FullTransitive
}

// forward: the old schemas read data written with the new one.
func (l Level) forward() bool {
	return l == Forward || l == ForwardTransitive || l == Full || l == FullTransitive
}

// transitive: against every earlier version, not only the latest.
func (l Level) transitive() bool {
	return l == BackwardTransitive || l == ForwardTransitive || l == FullTransitive
}

// Mode is a registry or subject mode.
type Mode string

// The modes.
const (
	// ReadWrite is the default: schemas are registered and deleted.
	ReadWrite Mode = "READWRITE"
	// ReadOnly refuses registrations and deletions.
	ReadOnly Mode = "READONLY"
	// Import registers schemas with the ids and versions given, without
	// compatibility checks, to copy another registry.
	Import Mode = "IMPORT"
)

// ParseMode reads a mode.
func ParseMode(s string) (Mode, bool) {
	switch m := Mode(strings.ToUpper(s)); m {
	case ReadWrite, ReadOnly, Import:
		return m, true
	}
	return "", false
}
