package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"

	"github.com/kgate/kgate/internal/config"
)

// configFlags are the flags every config-bearing command shares. Each maps
// onto one key of the config tree and wins over env and file when set.
type configFlags struct {
	fs   *flag.FlagSet
	path string
	// set maps a flag name to where it lands in the tree.
	targets map[string]func(*config.Config) reflect.Value
	values  map[string]*string
}

// addConfigFlags registers --config and the operational flags on fs.
func addConfigFlags(fs *flag.FlagSet) *configFlags {
	cf := &configFlags{fs: fs, targets: map[string]func(*config.Config) reflect.Value{}, values: map[string]*string{}}
	fs.StringVar(&cf.path, "config", "", "YAML configuration file (env KGATE_CONFIG)")
	cf.add("listen", "HTTP listen address (env KGATE_LISTEN, default 127.0.0.1:8082)", func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.Listen).Elem() })
	cf.add("brokers", "comma-separated external Kafka brokers; empty starts the embedded broker (env KGATE_BROKERS)", func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.Brokers).Elem() })
	cf.add("data-dir", "data directory of the embedded broker and kgate's state (env KGATE_DATA_DIR, default ./kgate-data)", func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.DataDir).Elem() })
	cf.add("broker-listen", "embedded broker's Kafka listen address (env KGATE_BROKER_LISTEN, default 127.0.0.1:9092)", func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.BrokerListen).Elem() })
	cf.add("advertised-url", "absolute URL clients reach this node at, for base_uri and links (env KGATE_ADVERTISED_URL)", func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.AdvertisedURL).Elem() })
	cf.add("auto-create-topics", "create missing topics on produce: true or false (env KGATE_AUTO_CREATE_TOPICS)", func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.AutoCreateTopics).Elem() })
	cf.add("users", "users file: KastleX passwd.yml plus groups and limits (env KGATE_USERS)", func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.Auth.Users).Elem() })
	cf.add("permissions", "permissions file: KastleX permissions.yml plus patterns and deny (env KGATE_PERMISSIONS)", func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.Auth.Permissions).Elem() })
	cf.add("log-level", "debug, info, warn or error (env KGATE_LOG_LEVEL)", func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.Log.Level).Elem() })
	cf.add("log-format", "auto, text or json (env KGATE_LOG_FORMAT)", func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.Log.Format).Elem() })
	return cf
}

func (cf *configFlags) add(name, usage string, target func(*config.Config) reflect.Value) {
	v := new(string)
	cf.fs.StringVar(v, name, "", usage)
	cf.targets[name] = target
	cf.values[name] = v
}

// load builds the effective configuration: defaults, then the file, then
// the environment, then the flags that were given. It does not validate.
func (cf *configFlags) load(env Env) (config.Config, error) {
	path := cf.path
	if path == "" {
		path = env.Getenv("KGATE_CONFIG")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, err
	}
	if err := config.ApplyEnv(&cfg, env.Getenv); err != nil {
		return cfg, err
	}
	var errs []error
	cf.fs.Visit(func(f *flag.Flag) {
		target, ok := cf.targets[f.Name]
		if !ok {
			return
		}
		if err := config.SetString(target(&cfg), *cf.values[f.Name]); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", f.Name, err))
		}
	})
	return cfg, errors.Join(errs...)
}

// loadValid loads and validates, printing every problem and returning a
// non-zero exit code when the configuration is unusable.
func (cf *configFlags) loadValid(env Env, name string) (config.Config, int) {
	cfg, err := cf.load(env)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "kgate %s: %v\n", name, err)
		return cfg, exitConfig
	}
	return cfg, exitOK
}

// newLogger builds the process logger: text on a terminal, JSON otherwise,
// unless the configuration says which.
func newLogger(env Env, lc config.Log) *slog.Logger {
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
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(env.Stderr, opts)
	} else {
		h = slog.NewJSONHandler(env.Stderr, opts)
	}
	return slog.New(h)
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
