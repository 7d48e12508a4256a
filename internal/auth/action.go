package auth

import "sort"

// Action is what a request does, as the permissions file names it:
// KastleX's actions, extended with create_topic, delete_topic,
// alter_config, consume, admin and metrics. Every route declares one, and
// the Kafka port maps each onto Kafka ACL operations.
type Action string

// The actions.
const (
	ListTopics  Action = "list_topics"
	ListBrokers Action = "list_brokers"
	ListURPs    Action = "list_urps"
	ListGroups  Action = "list_groups"
	Reload      Action = "reload"
	Revoke      Action = "revoke"
	Admin       Action = "admin"
	Metrics     Action = "metrics"
	ShowTopic   Action = "show_topic"
	ShowOffsets Action = "show_offsets"
	Fetch       Action = "fetch"
	Produce     Action = "produce"
	ShowURPs    Action = "show_urps"
	CreateTopic Action = "create_topic"
	DeleteTopic Action = "delete_topic"
	AlterConfig Action = "alter_config"
	ShowGroup   Action = "show_group"
	Consume     Action = "consume"
	ShowBroker  Action = "show_broker"
	// The schema registry's actions: listing subjects and reading
	// schemas by id (filtered to the subjects the caller may read), and
	// per subject reading, registering, deleting and setting its
	// compatibility level.
	ListSubjects  Action = "list_subjects"
	SubjectRead   Action = "subject_read"
	SubjectWrite  Action = "subject_write"
	SubjectDelete Action = "subject_delete"
	SubjectConfig Action = "subject_config"
)

// scopes maps every action to the scope of its resource.
var scopes = map[Action]Scope{
	ListTopics: ScopeCluster, ListBrokers: ScopeCluster, ListURPs: ScopeCluster, ListGroups: ScopeCluster,
	Reload: ScopeCluster, Revoke: ScopeCluster, Admin: ScopeCluster, Metrics: ScopeCluster,
	ShowTopic: ScopeTopic, ShowOffsets: ScopeTopic, Fetch: ScopeTopic, Produce: ScopeTopic, ShowURPs: ScopeTopic,
	CreateTopic: ScopeTopic, DeleteTopic: ScopeTopic, AlterConfig: ScopeTopic,
	ShowGroup: ScopeGroup, Consume: ScopeGroup,
	ShowBroker:   ScopeBroker,
	ListSubjects: ScopeCluster,
	SubjectRead:  ScopeSubject, SubjectWrite: ScopeSubject, SubjectDelete: ScopeSubject, SubjectConfig: ScopeSubject,
}

// Scope returns the scope of the action's resource and whether the action
// is known.
func (a Action) Scope() (Scope, bool) {
	s, ok := scopes[a]
	return s, ok
}

// MovesData reports whether the action moves records (its bytes count
// against byte limits): produce by what it sends, fetch and consume by
// what they receive.
func (a Action) MovesData() bool { return a == Produce || a == Fetch || a == Consume }

// Class is the route class of a usage plan's overrides the action falls
// in: produce, consume (fetch and consumer groups) or admin (topic
// administration, reloads, revocation, admin); "" for the others
// (listings and descriptions), which take the plan's own rates.
func (a Action) Class() string {
	switch a {
	case Produce:
		return "produce"
	case Fetch, Consume:
		return "consume"
	case Admin, Reload, Revoke, CreateTopic, DeleteTopic, AlterConfig, SubjectWrite, SubjectDelete, SubjectConfig:
		return "admin"
	}
	return ""
}

// Actions returns every known action, sorted.
func Actions() []Action {
	out := make([]Action, 0, len(scopes))
	for a := range scopes {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func actionNames() []string {
	var out []string
	for _, a := range Actions() {
		out = append(out, string(a))
	}
	return out
}

// Receives reports whether the action's data comes back to the caller
// (fetch and consume) rather than from it (produce).
func (a Action) Receives() bool { return a == Fetch || a == Consume }
