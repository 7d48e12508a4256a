package testutil

import (
	"os/exec"
	"strings"
	"testing"
)

// The harness runs a real KDC: a keytab made for a principal logs it in
// with MIT's kinit, and klist sees the ticket in the cache Kinit returns.
func TestKDCKinit(t *testing.T) {
	k := StartKDC(t)
	if k.Realm() != "KGATE.TEST" {
		t.Fatalf("realm %q", k.Realm())
	}
	k.AddPrincipal("alice", "alice-secret")
	k.AddPrincipal("kafka/localhost", "")
	cc := k.Kinit("alice", k.Keytab("alice"))
	klist := RequireTool(t, "klist")
	cmd := exec.Command(klist, "-c", "FILE:"+cc)
	cmd.Env = k.Env(cc)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("klist: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "alice@KGATE.TEST") || !strings.Contains(string(out), "krbtgt/KGATE.TEST@KGATE.TEST") {
		t.Errorf("klist shows no TGT for alice:\n%s", out)
	}
}

// A failed kadmin.local query is detected (kadmin.local itself exits
// 0): the harness must not hand out a keytab for a principal that does
// not exist.
func TestKDCKadminFailureDetected(t *testing.T) {
	k := StartKDC(t)
	k.AddPrincipal("alice", "x")
	for _, q := range []string{
		`addprinc -pw x alice@KGATE.TEST`, // again
		`ktadd -k /dev/null -norandkey nobody@KGATE.TEST`,
	} {
		if out := k.run(kdcTool("kadmin.local"), "-r", k.realm, "-q", q); !kadminFailed.MatchString(out) {
			t.Errorf("%s: failure not detected in %q", q, out)
		}
	}
}
