package gssapi_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/kgate/kgate/internal/gssapi"
	"github.com/kgate/kgate/internal/testutil"
)

// mitLogin runs testdata/mit_initiator.py, a client on MIT's GSS-API
// library doing what Cyrus SASL's gssapi plugin (under librdkafka and
// kcat) does, with alice's ticket cache, and relays its tokens to s.
func mitLogin(t *testing.T, r *realm, authzid string, s *gssapi.Session) error {
	t.Helper()
	py := testutil.RequirePython(t, "gssapi")
	cc := r.kdc.Kinit("alice", r.aliceKT)
	cmd := exec.CommandContext(t.Context(), py, "testdata/mit_initiator.py", authzid)
	cmd.Env = r.kdc.Env(cc)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		in.Close()
		_ = cmd.Wait()
	}()
	out := bufio.NewReader(outPipe)
	for step := 0; step < 5; step++ {
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("MIT initiator at step %d: %v\n%s", step, err, stderr.String())
		}
		msg, err := hex.DecodeString(strings.TrimSpace(line))
		if err != nil {
			t.Fatal(err)
		}
		if step == 1 && len(msg) != 0 {
			t.Errorf("MIT's answer to the AP-REP is %d bytes, want empty (as Cyrus sends)", len(msg))
		}
		reply, done, err := s.Step(t.Context(), msg)
		if err != nil {
			return err
		}
		if done {
			if _, err := io.ReadAll(out); err != nil {
				t.Fatal(err)
			}
			return nil
		}
		fmt.Fprintf(in, "%x\n", reply)
	}
	t.Fatal("no end after 5 steps")
	return nil
}

// TestMITInitiator: MIT's GSS-API initiator (mutual authentication,
// sequencing, an authenticator subkey, MIT's wrap tokens), driven as
// Cyrus SASL drives it, verifies the AP-REP and the offer (it would
// fail otherwise) and is accepted, with or without an authorization id.
func TestMITInitiator(t *testing.T) {
	r := startRealm(t)
	a := r.acceptor(t, nil)
	for _, authzid := range []string{"", "alice@KGATE.TEST", "alice"} {
		s := a.Start(loopback)
		if err := mitLogin(t, r, authzid, s); err != nil {
			t.Fatalf("authzid %q: %v", authzid, err)
		}
		if s.User() != "alice" || s.Principal() != "alice@KGATE.TEST" {
			t.Errorf("user %q principal %q", s.User(), s.Principal())
		}
	}
	if err := mitLogin(t, r, "admin", a.Start(loopback)); gssapi.ReasonOf(err) != gssapi.ReasonSecurityLayer {
		t.Errorf("authzid admin: %v, want %s", err, gssapi.ReasonSecurityLayer)
	}
}
