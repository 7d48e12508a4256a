package e2e

import (
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

// TestSchemaRegistryKill9: schemas registered through the built binary's
// registry listener survive a kill -9 (the _schemas topic is created
// explicitly, so the embedded broker keeps it), with their ids and
// versions.
func TestSchemaRegistryKill9(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir)
	if p.SchemaRegistry == "" {
		t.Fatalf("no schema registry address logged\n%s", p.Logs())
	}
	cl, err := sr.NewClient(sr.URLs("http://" + p.SchemaRegistry))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s1, err := cl.CreateSchema(ctx, "k9-value", sr.Schema{Schema: `{"type":"record","name":"K","fields":[{"name":"a","type":"string"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := cl.CreateSchema(ctx, "k9-value", sr.Schema{Schema: `{"type":"record","name":"K","fields":[{"name":"a","type":"string"},{"name":"b","type":"long","default":0}]}`})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done

	p2 := startServe(t, dir)
	cl2, err := sr.NewClient(sr.URLs("http://" + p2.SchemaRegistry))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []sr.SubjectSchema{s1, s2} {
		got, err := cl2.SchemaByVersion(ctx, "k9-value", want.Version)
		if err != nil || got.ID != want.ID {
			t.Fatalf("version %d after kill -9 = %+v, %v; want id %d\n%s", want.Version, got, err, want.ID, p2.Logs())
		}
	}
	s3, err := cl2.CreateSchema(ctx, "k9-other", sr.Schema{Schema: `"string"`})
	if err != nil || s3.ID == s1.ID || s3.ID == s2.ID {
		t.Fatalf("a new schema after kill -9 = %+v, %v; want a fresh id", s3, err)
	}
}
