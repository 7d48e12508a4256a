package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/kgate/kgate/internal/config"
)

// runConfig implements `kgate config validate` and `kgate config print`.
func runConfig(_ context.Context, env Env, args []string) int {
	if len(args) == 0 || (args[0] != "validate" && args[0] != "print") {
		fmt.Fprintln(env.Stderr, "usage: kgate config validate|print [--config FILE] [flags]")
		return exitConfig
	}
	sub := args[0]
	fs := flag.NewFlagSet("kgate config "+sub, flag.ContinueOnError)
	cf := addConfigFlags(fs)
	if code, ok := parseFlags(fs, args[1:], env.Stderr); !ok {
		return code
	}
	cfg, code := cf.loadValid(env, "config "+sub)
	if code != exitOK {
		return code
	}
	if sub == "validate" {
		fmt.Fprintln(env.Stdout, "configuration is valid")
		return exitOK
	}
	b, err := config.Marshal(&cfg)
	if err != nil {
		return errorf(env, exitFail, "config print", "%v", err)
	}
	env.Stdout.Write(b)
	return exitOK
}
