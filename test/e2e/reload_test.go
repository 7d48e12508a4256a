package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReloadAnnouncedBySIGHUP: with cluster.announce_reloads, one SIGHUP
// to one of three replicas has all three read their permissions again:
// the other two enforce the new ones within a second.
func TestReloadAnnouncedBySIGHUP(t *testing.T) {
	s := startScaleOut(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctxT(t), 1, 1, nil, "bob-events"); err != nil {
		t.Fatal(err)
	}
	produce := func(p *proc) int {
		return call(t, "POST", p.HTTP+"/topics/bob-events", "alice", v2JSON, `{"records":[{"value":1}]}`).status
	}
	for i, p := range s.replicas {
		if code := produce(p); code != 403 {
			t.Fatalf("replica %d: alice writing bob-events: %d before the change, want 403", i, code)
		}
	}
	// The files every replica reads (one path here; a ConfigMap on
	// Kubernetes) change first.
	perms := filepath.Join(s.dir, "permissions.yml")
	b, err := os.ReadFile(perms)
	if err != nil {
		t.Fatal(err)
	}
	grant := strings.Replace(string(b), `  produce: ["{user}-*"]`, `  produce: ["{user}-*", "bob-events"]`, 1)
	if grant == string(b) {
		t.Fatal("the permissions file changed shape")
	}
	if err := os.WriteFile(perms, []byte(grant), 0o600); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if err := s.replicas[0].cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the SIGHUP announced", func() bool {
		return strings.Contains(s.replicas[0].Logs(), "reload announced to the other replicas")
	})
	for i, p := range s.replicas[1:] {
		waitFor(t, 5*time.Second, "the announced reload", func() bool { return produce(p) == 200 })
		took := time.Since(sent)
		t.Logf("replica %d enforces the new permissions %v after the SIGHUP was sent", i+1, took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("replica %d took %v, want within a second", i+1, took)
		}
	}
	if code := produce(s.replicas[0]); code != 200 {
		t.Errorf("the replica sent SIGHUP answers %d", code)
	}
}
