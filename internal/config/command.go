package config

import "strings"

// A Command is the part of the configuration tree one kgate command uses.
// A command reads only its own environment variables (the others may be
// set for another command in the same shell or container) and validates
// only its own settings. The file is one document for every command: its
// shape (unknown keys, wrong types) is checked as a whole by Load.
type Command struct {
	// Name is the command as typed: serve, handle, dlq replay, stream.
	Name string
	// keys are the key paths the command uses, each with everything
	// under it.
	keys []string
}

// The commands that take a configuration.
var (
	// ServeCommand is kgate serve; kgate config validate and config print
	// show and check its configuration.
	ServeCommand = Command{Name: "serve", keys: []string{"listen", "advertised_url", "brokers", "data_dir", "broker_listen",
		"auto_create_topics", "default_partitions", "default_replication_factor", "log", "http", "kafka", "broker",
		"consumers", "metrics", "schema_registry", "auth", "cluster", "tracing"}}
	// HandleCommand is kgate handle: a Kafka client (brokers, or the
	// embedded broker found through data_dir), the topics it creates, its
	// metrics listener (http), the handle section and tracing (a span per
	// handler invocation).
	HandleCommand = Command{Name: "handle", keys: []string{"brokers", "data_dir", "default_partitions", "default_replication_factor",
		"log", "http", "kafka", "handle", "tracing"}}
	// DLQCommand is kgate dlq replay: a Kafka client and the dead-letter
	// topic.
	DLQCommand = Command{Name: "dlq replay", keys: []string{"brokers", "data_dir", "log", "kafka", "handle.dlq_topic"}}
	// StreamCommand is kgate stream, which has no Kafka side.
	StreamCommand = Command{Name: "stream", keys: []string{"log", "stream"}}
)

// Uses reports whether the command uses the setting at key, a path such as
// handle.concurrency or brokers[1], or the section it names.
func (c Command) Uses(key string) bool {
	key, _, _ = strings.Cut(key, "[")
	for _, k := range c.keys {
		if key == k || strings.HasPrefix(key, k+".") {
			return true
		}
	}
	return false
}

// ValidateFor reports, like Validate, every problem of the settings cmd
// uses, and none of the others.
func (c *Config) ValidateFor(cmd Command) error {
	err := c.Validate()
	ps, ok := err.(Problems)
	if !ok {
		return err
	}
	var kept Problems
	for _, p := range ps {
		if cmd.Uses(p.Key) {
			kept = append(kept, p)
		}
	}
	return kept.Err()
}

// ApplyEnvFor overlays the environment variables of the settings cmd uses
// onto cfg (see ApplyEnv); the others are not read.
func ApplyEnvFor(cfg *Config, cmd Command, getenv func(string) string) error {
	return applyEnv(cfg, getenv, cmd.Uses)
}
