// Package cli implements kgate's command line: one plain function per
// subcommand, each returning a process exit code.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes shared by every command.
const (
	exitOK     = 0
	exitFail   = 1 // a runtime failure
	exitConfig = 2 // bad usage or configuration
)

// Env is what a command may touch of its process: streams and the
// environment. Tests pass their own.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// IsTerminal reports whether the file descriptor is a terminal; nil
	// means never.
	IsTerminal func(fd uintptr) bool
}

// Std returns the process's real environment.
func Std() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, IsTerminal: isTerminal}
}

type command struct {
	summary string
	run     func(ctx context.Context, env Env, args []string) int
}

// commands is the one table of subcommands.
var commands = map[string]command{
	"serve":   {"run the HTTP gateway (and the embedded broker when no brokers are configured)", runServe},
	"stream":  {"send video frames to Kinesis Video Streams, a Matroska file or HLS", runStream},
	"config":  {"validate or print the effective configuration of serve, or of handle, dlq or stream (config validate|print [COMMAND])", runConfig},
	"handle":  {"run a consumer-group worker with a built-in handler (vault-colors, exec, webhook)", runHandle},
	"dlq":     {"replay dead letters to their origin topics (dlq replay)", runDLQ},
	"version": {"print the version", runVersion},
	"apikey":  {"create, list or revoke API keys through a running gateway (apikey create|list|revoke)", runAPIKey},
	"passwd":  {"print a bcrypt hash (and users-file entry) for a password read from the terminal or stdin", runPasswd},
}

// Run dispatches args (without the program name) to a subcommand.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return exitConfig
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "kgate: unknown command %q\n\n", args[0])
		usage(env.Stderr)
		return exitConfig
	}
	return cmd.run(ctx, env, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: kgate <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'kgate <command> -h' for a command's flags.")
}

// errorf prints a one-line error for command name and returns code.
func errorf(env Env, code int, name, format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(env.Stderr, "kgate %s: %s\n", name, strings.TrimRight(msg, "\n"))
	return code
}
