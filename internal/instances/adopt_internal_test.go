package instances

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/record"
)

// TestAdoptedSkipsToCommit: an instance created again on this replica
// from its definition (its holder is gone) starts at the group's
// committed offsets as they were; when the client, which read further
// from the previous holder, commits where it got to before reading here,
// the next read starts there, not at the records it already committed.
func TestAdoptedSkipsToCommit(t *testing.T) {
	cfg, kc := startKafka(t)
	if _, err := kc.EnsureTopic(t.Context(), "adopt"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := kc.Kgo().ProduceSync(t.Context(), &kgo.Record{Topic: "adopt", Partition: 0, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	dirDone, regDone := make(chan struct{}), make(chan struct{})
	dir, err := OpenDirectory(t.Context(), kc, "_kgate_consumers", nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { dir.Run(ctx); close(dirDone) }()
	// The definition a replica that is gone left behind.
	if err := dir.put(t.Context(), Definition{Group: "g", Name: "i", Node: "node-gone", Format: string(record.Binary),
		Reset: "earliest", Topics: []string{"adopt"}, RequestTimeoutMS: 1000, Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	reg := New(Options{Kafka: kc, Config: cfg.Consumers, Directory: dir, Node: "node-here",
		NodeURL: func(string) (string, bool) { return "", false }})
	go func() { reg.Run(ctx); close(regDone) }()
	defer func() { cancel(); <-regDone; reg.Close(); <-dirDone }()

	in, err := reg.Acquire(t.Context(), "g", "i", Owner{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Release()
	if !in.adopted.Load() {
		t.Fatal("the instance was not created again from its definition")
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(in.Assignment()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the adopted instance was never assigned its partition")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := in.Commit(t.Context(), nil, map[Partition]int64{{Topic: "adopt", Partition: 0}: 6}); err != nil {
		t.Fatal(err)
	}
	b, err := in.Read(t.Context(), ReadRequest{Deadline: time.Now().Add(5 * time.Second), MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var recs []struct {
		Offset int64 `json:"offset"`
	}
	if err := json.Unmarshal(b.Body, &recs); err != nil || len(recs) == 0 {
		t.Fatalf("read after the commit: %s (%v)", b.Body, err)
	}
	if recs[0].Offset != 6 {
		t.Errorf("the read after committing 6 starts at offset %d: records the client committed are given again", recs[0].Offset)
	}
}
