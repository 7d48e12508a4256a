package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/kgate/kgate/internal/config"
)

const configUsage = "usage: kgate config validate|print [serve|handle|dlq|stream] [--config FILE] [the command's flags]"

// configCommands registers, for config validate and print, the flags of
// the command whose configuration is checked or shown; adjust (may be
// nil) applies the flags that are not single keys.
var configCommands = map[string]func(fs *flag.FlagSet) (cf *configFlags, adjust func(*config.Config) error){
	"serve": func(fs *flag.FlagSet) (*configFlags, func(*config.Config) error) {
		cf := newConfigFlags(fs, config.ServeCommand)
		cf.addServeFlags()
		return cf, nil
	},
	"handle": handleConfigFlags,
	"dlq":    dlqConfigFlags,
	"stream": func(fs *flag.FlagSet) (*configFlags, func(*config.Config) error) { return streamFlags(fs), nil },
}

// runConfig implements `kgate config validate` and `kgate config print`:
// the configuration of serve, or of the command named after the
// subcommand, with the flags, variables and checks that command has.
// What a run needs beyond valid settings (a handler's URL, a stream's
// sink) is checked when the command runs.
func runConfig(_ context.Context, env Env, args []string) int {
	if len(args) == 0 || (args[0] != "validate" && args[0] != "print") {
		fmt.Fprintln(env.Stderr, configUsage)
		return exitConfig
	}
	sub, args := args[0], args[1:]
	of := "serve"
	if len(args) > 0 && configCommands[args[0]] != nil {
		of, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("kgate config "+sub, flag.ContinueOnError)
	cf, adjust := configCommands[of](fs)
	if code, ok := parseFlags(fs, args, env.Stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return errorf(env, exitConfig, "config "+sub, "unexpected arguments %q (%s)", fs.Args(), configUsage)
	}
	cfg, code := cf.loadValid(env, adjust)
	if code != exitOK {
		return code
	}
	if sub == "validate" {
		fmt.Fprintf(env.Stdout, "configuration is valid (kgate %s)\n", cf.cmd.Name)
		return exitOK
	}
	b, err := config.Marshal(&cfg)
	if err != nil {
		return errorf(env, exitFail, "config print", "%v", err)
	}
	env.Stdout.Write(b)
	return exitOK
}
