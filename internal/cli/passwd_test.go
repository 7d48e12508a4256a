package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/kgate/kgate/internal/auth"
)

func TestPasswd(t *testing.T) {
	run := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		env := Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
		code := Run(context.Background(), append([]string{"passwd"}, args...), env)
		return code, out.String(), errb.String()
	}
	code, out, _ := run("password1\n", "--cost", "4")
	if code != 0 || bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out)), []byte("password1")) != nil {
		t.Fatalf("bare hash: %d %q", code, out)
	}
	if c, _ := bcrypt.Cost([]byte(strings.TrimSpace(out))); c != 4 {
		t.Errorf("cost %d", c)
	}
	// A users-file entry with SCRAM credentials, valid for the parser.
	code, out, _ = run("password1", "--cost", "4", "--user", "customer1", "--scram")
	if code != 0 {
		t.Fatalf("entry: %d", code)
	}
	u, err := auth.ParseUsers([]byte(out))
	if err != nil {
		t.Fatalf("entry does not parse: %v\n%s", err, out)
	}
	c1 := u.Lookup("customer1")
	if c1 == nil || c1.SCRAM256 == nil || c1.SCRAM512 == nil || bcrypt.CompareHashAndPassword(c1.PasswordHash, []byte("password1")) != nil {
		t.Errorf("entry: %s", out)
	}
	if strings.Contains(out, "password1") {
		t.Error("the output holds the password")
	}
	// Never from argv.
	if code, _, errs := run("", "password1"); code != exitConfig || !strings.Contains(errs, "never from the command line") {
		t.Errorf("password as an argument: %d %s", code, errs)
	}
	if code, _, _ := run("\n"); code == 0 {
		t.Error("an empty password was hashed")
	}
	if code, _, _ := run(strings.Repeat("x", 73) + "\n"); code == 0 {
		t.Error("a password longer than bcrypt's 72 bytes was hashed")
	}
}
