package config

import (
	"reflect"
	"strings"
	"testing"
)

var commands = []Command{ServeCommand, HandleCommand, DLQCommand, StreamCommand}

// Every setting belongs to some command: a new key left out of all of
// them would be neither read from the environment nor validated.
func TestEverySettingHasACommand(t *testing.T) {
	var walk func(t reflect.Type, prefix string, visit func(key string))
	walk = func(t reflect.Type, prefix string, visit func(string)) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if prefix != "" {
				key = prefix + "." + key
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration(0)) {
				walk(f.Type, key, visit)
				continue
			}
			visit(key)
		}
	}
	walk(reflect.TypeOf(Config{}), "", func(key string) {
		for _, c := range commands {
			if c.Uses(key) {
				return
			}
		}
		t.Errorf("no command uses %s", key)
	})
}

func TestCommandUses(t *testing.T) {
	for _, tt := range []struct {
		cmd  Command
		key  string
		want bool
	}{
		{ServeCommand, "listen", true},
		{ServeCommand, "auth.https.listen", true},
		{ServeCommand, "handle.concurrency", false},
		{HandleCommand, "brokers[1]", true},
		{HandleCommand, "listen", false},
		{HandleCommand, "auth.users", false},
		{HandleCommand, "handle", true},
		{DLQCommand, "handle.dlq_topic", true},
		{DLQCommand, "handle.concurrency", false},
		{DLQCommand, "handle.dlq_topicx", false},
		{StreamCommand, "stream.kvs.region", true},
		{StreamCommand, "kafka.client_id", false},
	} {
		if got := tt.cmd.Uses(tt.key); got != tt.want {
			t.Errorf("%s uses %s = %v, want %v", tt.cmd.Name, tt.key, got, tt.want)
		}
	}
}

// A command reads its own variables and validates its own settings only.
func TestApplyEnvForAndValidateFor(t *testing.T) {
	env := map[string]string{"KGATE_LISTEN": "0.0.0.0:1", "KGATE_USERS": "/nonexistent.yml", "KGATE_AUTH_FAILURE_BURST": "lots",
		"KGATE_HANDLE_CONCURRENCY": "7", "KGATE_KAFKA_CLIENT_ID": "worker", "KGATE_STREAM_FPS": "lots"}
	c := Default()
	if err := ApplyEnvFor(&c, HandleCommand, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Listen != Default().Listen || c.Auth.Users != "" || c.Handle.Concurrency != 7 || c.Kafka.ClientID != "worker" {
		t.Errorf("handle's environment: listen %q users %q concurrency %d client id %q", c.Listen, c.Auth.Users, c.Handle.Concurrency, c.Kafka.ClientID)
	}
	c.Listen, c.Handle.Concurrency, c.Stream.FPS = "0.0.0.0:1", 0, -1
	for cmd, want := range map[*Command][]string{
		&ServeCommand:  {"listen"},
		&HandleCommand: {"handle.concurrency"},
		&DLQCommand:    nil,
		&StreamCommand: {"stream.fps"},
	} {
		var got []string
		if err := c.ValidateFor(*cmd); err != nil {
			for _, p := range err.(Problems) {
				got = append(got, p.Key)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: problems at %v, want %v", cmd.Name, got, want)
		}
	}
}
