package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"

	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/logging"
)

// configFlags are the flags of a config-bearing command. Each maps onto
// one key of the config tree and wins over env and file when set. A
// command registers only the flags of the settings it uses (cmd).
type configFlags struct {
	fs   *flag.FlagSet
	cmd  config.Command
	path string
	// targets maps a flag name to where it lands in the tree.
	targets map[string]func(*config.Config) reflect.Value
	values  map[string]*string
}

// newConfigFlags registers the flags every command has: --config and the
// log settings.
func newConfigFlags(fs *flag.FlagSet, cmd config.Command) *configFlags {
	cf := &configFlags{fs: fs, cmd: cmd, targets: map[string]func(*config.Config) reflect.Value{}, values: map[string]*string{}}
	fs.StringVar(&cf.path, "config", "", "YAML configuration file (env KGATE_CONFIG)")
	cf.add("log-level", "debug, info, warn or error", field(func(c *config.Config) any { return &c.Log.Level }))
	cf.add("log-format", "auto (text on a terminal, JSON otherwise), text or json", field(func(c *config.Config) any { return &c.Log.Format }))
	return cf
}

// addServeFlags registers the operational flags of kgate serve (and of
// config validate and print, which show serve's configuration).
func (cf *configFlags) addServeFlags() {
	cf.add("listen", "HTTP listen address", field(func(c *config.Config) any { return &c.Listen }))
	cf.add("brokers", "comma-separated external Kafka brokers; empty starts the embedded broker", field(func(c *config.Config) any { return &c.Brokers }))
	cf.add("data-dir", "data directory of the embedded broker and kgate's state", field(func(c *config.Config) any { return &c.DataDir }))
	cf.add("broker-listen", "embedded broker's Kafka listen address", field(func(c *config.Config) any { return &c.BrokerListen }))
	cf.add("schema-registry-listen", "schema registry listen address (empty: only under /schema-registry/ on --listen)", field(func(c *config.Config) any { return &c.SchemaRegistry.Listen }))
	cf.add("schema-registry-url", "external Confluent-compatible schema registry URL; kgate then serves none of its own (credentials: config file or env only)", field(func(c *config.Config) any { return &c.SchemaRegistry.URL }))
	cf.add("advertised-url", "absolute URL clients reach this node at, for base_uri and links", field(func(c *config.Config) any { return &c.AdvertisedURL }))
	cf.add("auto-create-topics", "create missing topics on produce: true or false (empty: true with the embedded broker, false with external brokers)", field(func(c *config.Config) any { return &c.AutoCreateTopics }))
	cf.add("users", "users file: KastleX passwd.yml plus groups and limits", field(func(c *config.Config) any { return &c.Auth.Users }))
	cf.add("permissions", "permissions file: KastleX permissions.yml plus patterns and deny", field(func(c *config.Config) any { return &c.Auth.Permissions }))
}

// addClusterFlags registers where a worker finds Kafka: external brokers,
// or the embedded broker of the kgate serve on the same data directory.
func (cf *configFlags) addClusterFlags() {
	cf.add("brokers", "comma-separated Kafka brokers; empty uses the embedded broker of the kgate serve on --data-dir", field(func(c *config.Config) any { return &c.Brokers }))
	cf.add("data-dir", "data directory of the kgate serve whose embedded broker to use", field(func(c *config.Config) any { return &c.DataDir }))
}

// add registers a flag for the setting target points at. Its help ends
// with the setting's environment variable and default, both read from
// config (the tags and Default()), so that they are written once.
func (cf *configFlags) add(name, usage string, target func(*config.Config) reflect.Value) {
	cf.addDefault(name, usage, "", target)
}

// addDefault is add for a setting whose default is computed when empty
// (a group named after the handler): def says how.
func (cf *configFlags) addDefault(name, usage, def string, target func(*config.Config) reflect.Value) {
	v := new(string)
	cf.fs.StringVar(v, name, "", usage+settingNotes(target, def))
	cf.targets[name] = target
	cf.values[name] = v
}

// settingNotes returns " (env KGATE_..., default ...)" for the setting
// target points at; def stands in for an empty default.
func settingNotes(target func(*config.Config) reflect.Value, def string) string {
	c := config.Default()
	v := target(&c)
	var notes []string
	if _, env, ok := c.Setting(v); ok && env != "" {
		notes = append(notes, "env "+env)
	}
	if d := config.FormatValue(v); d != "" {
		def = d
	}
	if def != "" {
		notes = append(notes, "default "+def)
	}
	if len(notes) == 0 {
		return ""
	}
	return " (" + strings.Join(notes, ", ") + ")"
}

// field maps a flag onto the config field get points at.
func field(get func(c *config.Config) any) func(*config.Config) reflect.Value {
	return func(c *config.Config) reflect.Value { return reflect.ValueOf(get(c)).Elem() }
}

// load builds the effective configuration: defaults, then the file, then
// the environment variables of the command's settings, then the flags that
// were given. It does not validate. The problems of the file, the
// variables and the flags are returned together (config.Problems); an
// unreadable file is an error of its own.
func (cf *configFlags) load(env Env) (config.Config, error) {
	path := cf.path
	if path == "" {
		path = env.Getenv("KGATE_CONFIG")
	}
	var ps config.Problems
	cfg, err := config.Load(path)
	if !collect(&ps, err) {
		return cfg, err
	}
	collect(&ps, config.ApplyEnvFor(&cfg, cf.cmd, env.Getenv))
	cf.fs.Visit(func(f *flag.Flag) {
		target, ok := cf.targets[f.Name]
		if !ok {
			return
		}
		if err := config.SetString(target(&cfg), *cf.values[f.Name]); err != nil {
			ps.Add("--"+f.Name, "%v", err)
		}
	})
	return cfg, ps.Err()
}

// collect appends err's problems to ps and reports whether err was nil or
// Problems.
func collect(ps *config.Problems, err error) bool {
	var more config.Problems
	if errors.As(err, &more) {
		*ps = append(*ps, more...)
		return true
	}
	return err == nil
}

// loadValid loads, lets adjust (if not nil) apply what the command's own
// flags mean beyond single keys, and validates the settings the command
// uses. It prints every problem (of the file, the variables, the flags
// and the values) at once and returns a non-zero exit code when there is
// any.
func (cf *configFlags) loadValid(env Env, adjust func(*config.Config) error) (config.Config, int) {
	var ps config.Problems
	cfg, err := cf.load(env)
	if !collect(&ps, err) {
		fmt.Fprintf(env.Stderr, "%s: %v\n", cf.fs.Name(), err)
		return cfg, exitConfig
	}
	if adjust != nil {
		if err := adjust(&cfg); err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", cf.fs.Name(), err)
			return cfg, exitConfig
		}
	}
	collect(&ps, cfg.ValidateFor(cf.cmd))
	if err := ps.Err(); err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", cf.fs.Name(), err)
		return cfg, exitConfig
	}
	return cfg, exitOK
}

// newLogger builds the process logger: text on a terminal, JSON otherwise,
// unless the configuration says which.
func newLogger(env Env, lc config.Log) *slog.Logger {
	return slog.New(newLogHandler(env, env.Stderr, lc))
}

// newLogHandler is newLogger's handler writing to w (env.Stderr decides
// what "auto" means).
func newLogHandler(env Env, w io.Writer, lc config.Log) slog.Handler {
	var level slog.Level
	_ = level.UnmarshalText([]byte(lc.Level))
	opts := &slog.HandlerOptions{Level: level}
	format := strings.ToLower(lc.Format)
	if format == "auto" || format == "" {
		format = "json"
		if f, ok := env.Stderr.(interface{ Fd() uintptr }); ok && env.IsTerminal != nil && env.IsTerminal(f.Fd()) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.NewTextHandler(w, opts)
	}
	return slog.NewJSONHandler(w, opts)
}

// newAsyncLogger is newLogger writing through an asynchronous, bounded
// writer (one write system call per batch of lines instead of one per
// line: the access log writes a line per request). Start and Close the
// writer around its use.
func newAsyncLogger(env Env, lc config.Log) (*slog.Logger, *logging.Writer) {
	notice := func(n uint64) []byte {
		var b bytes.Buffer
		slog.New(newLogHandler(env, &b, lc)).Warn("log lines dropped: the log output could not keep up", "dropped", n)
		return b.Bytes()
	}
	w := logging.NewWriter(env.Stderr, 0, 0, notice)
	return slog.New(newLogHandler(env, w, lc)), w
}

// parseFlags parses args with fs, mapping -h to exit 0 and errors to 2.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitConfig, false
	}
	return exitOK, true
}
