package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/kgate/kgate/internal/auth"
)

// runPasswd implements `kgate passwd`: it reads a password from the
// terminal (twice, without echo) or from the first line of stdin, never
// from the command line, and prints its bcrypt hash, or with --user a
// users-file entry (with --scram also the SCRAM credentials the embedded
// broker's Kafka port accepts).
func runPasswd(_ context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("kgate passwd", flag.ContinueOnError)
	cost := fs.Int("cost", 12, "bcrypt cost (4 to 31; KastleX uses 12)")
	user := fs.String("user", "", "print a users-file entry for this user instead of the bare hash")
	scram := fs.Bool("scram", false, "with --user, add SCRAM-SHA-256/512 credentials for the embedded broker's Kafka port")
	iterations := fs.Int("scram-iterations", 4096, "SCRAM iterations (4096 to 16384)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kgate passwd [--user NAME [--scram]] [--cost N] < password")
		fmt.Fprintln(fs.Output(), "The password is read from the terminal, or from the first line of stdin; never from the command line.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, env.Stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return errorf(env, exitConfig, "passwd", "unexpected argument: the password is read from the terminal or stdin, never from the command line")
	}
	if *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		return errorf(env, exitConfig, "passwd", "--cost must be between %d and %d", bcrypt.MinCost, bcrypt.MaxCost)
	}
	if *scram && *user == "" {
		return errorf(env, exitConfig, "passwd", "--scram needs --user (it prints a users-file entry)")
	}
	pw, err := readPassword(env)
	if err != nil {
		return errorf(env, exitFail, "passwd", "%v", err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), *cost)
	if err != nil {
		return errorf(env, exitFail, "passwd", "%v", err)
	}
	if *user == "" {
		fmt.Fprintln(env.Stdout, string(hash))
		return exitOK
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  password_hash: %q\n", *user, string(hash))
	if *scram {
		for _, m := range []struct {
			key    string
			sha512 bool
		}{{"scram_sha_256", false}, {"scram_sha_512", true}} {
			c, err := auth.NewSCRAMCredential(m.sha512, pw, *iterations)
			if err != nil {
				return errorf(env, exitConfig, "passwd", "%v", err)
			}
			fmt.Fprintf(&b, "  %s:\n    salt: %s\n    salted_password: %s\n    iterations: %d\n", m.key,
				base64.StdEncoding.EncodeToString(c.Salt), base64.StdEncoding.EncodeToString(c.SaltedPassword), c.Iterations)
		}
	}
	if _, err := auth.ParseUsers([]byte(b.String())); err != nil {
		return errorf(env, exitConfig, "passwd", "%v", err)
	}
	fmt.Fprint(env.Stdout, b.String())
	return exitOK
}

// readPassword reads the password without echo from a terminal (asking
// twice), or the first line of a non-terminal stdin.
func readPassword(env Env) (string, error) {
	if f, ok := env.Stdin.(*os.File); ok && env.IsTerminal != nil && env.IsTerminal(f.Fd()) {
		fmt.Fprint(env.Stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
		fmt.Fprint(env.Stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return checkPassword(string(a))
	}
	line, err := bufio.NewReader(io.LimitReader(env.Stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading password from stdin: %w", err)
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("empty password")
	}
	if len(pw) > 72 {
		return "", errors.New("bcrypt uses at most 72 bytes of a password; choose a shorter one")
	}
	return pw, nil
}
