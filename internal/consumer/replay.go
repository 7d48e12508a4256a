package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/kafka"
)

// ReplayOptions configure Replay.
type ReplayOptions struct {
	Client *kafka.Client
	// DLQTopic is the dead-letter topic to replay.
	DLQTopic string
	// Group records how far replay got (committed offsets on the
	// dead-letter topic), so a dead letter is replayed once; the default
	// is "kgate-dlq-replay.<DLQTopic>". It must have no active members.
	Group string
	// ToTopic, when set, replaces every dead letter's origin topic.
	ToTopic string
	// Max stops after that many replayed records (0: no limit).
	Max int
	// DryRun reports what would be replayed without producing or
	// committing.
	DryRun bool
	// OnRecord, if set, is called for each dead letter with its target
	// topic ("" when skipped) before it is produced.
	OnRecord func(r *kgo.Record, target string)
	Logger   *slog.Logger
}

// ReplayResult counts what Replay did.
type ReplayResult struct {
	Replayed int
	// Skipped counts dead letters without an origin topic header.
	Skipped int
	// ByTopic counts replayed records per target topic.
	ByTopic map[string]int
}

// Replay sends the dead letters that arrived before it started (from the
// replay group's committed offsets up to the topic's end offsets) back to
// their origin topics: same key, value and headers, minus the kgate-dlq-*
// headers, plus kgate-replayed-from and an incremented kgate-replays.
// A record goes to its origin partition when the topic still has it, so
// it keeps its place relative to its key's other records. Offsets are
// committed after the records are acknowledged, so an interrupted replay
// resumes without losing any dead letter (and repeats at most the last
// batch).
func Replay(ctx context.Context, o ReplayOptions) (ReplayResult, error) {
	res := ReplayResult{ByTopic: map[string]int{}}
	if o.Client == nil || o.DLQTopic == "" {
		return res, errors.New("replay: client and dead-letter topic are required")
	}
	if o.Group == "" {
		o.Group = ReplayGroup(o.DLQTopic)
	}
	if o.ToTopic != "" && !kafka.ValidTopic(o.ToTopic) {
		return res, fmt.Errorf("replay: invalid topic name %q", o.ToTopic)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	adm := o.Client.Admin()

	ends, err := adm.ListEndOffsets(ctx, o.DLQTopic)
	if err != nil {
		return res, fmt.Errorf("listing end offsets of %q: %w", o.DLQTopic, err)
	}
	if le, ok := ends.Lookup(o.DLQTopic, -1); ok && le.Err != nil {
		return res, fmt.Errorf("dead-letter topic %q: %w", o.DLQTopic, le.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, o.DLQTopic)
	if err != nil {
		return res, fmt.Errorf("listing start offsets of %q: %w", o.DLQTopic, err)
	}
	committed, err := adm.FetchOffsets(ctx, o.Group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return res, fmt.Errorf("fetching offsets of group %q: %w", o.Group, err)
	}
	from := map[int32]kgo.Offset{}
	end := map[int32]int64{}
	ends.Each(func(l kadm.ListedOffset) {
		if l.Err != nil || l.Topic != o.DLQTopic {
			return
		}
		start := int64(0)
		if s, ok := starts.Lookup(o.DLQTopic, l.Partition); ok && s.Err == nil {
			start = s.Offset
		}
		if c, ok := committed.Lookup(o.DLQTopic, l.Partition); ok && c.Err == nil && c.At > start {
			start = c.At
		}
		if start < l.Offset {
			from[l.Partition] = kgo.NewOffset().At(start)
			end[l.Partition] = l.Offset
		}
	})
	if len(from) == 0 {
		return res, nil
	}

	cl, err := o.Client.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.DLQTopic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return res, fmt.Errorf("creating replay consumer: %w", err)
	}
	defer cl.Close()

	done := func() bool { return len(end) == 0 || (o.Max > 0 && res.Replayed >= o.Max) }
	for !done() {
		// A partition whose last offsets hold no record this consumer
		// sees (transaction markers) would never reach its end; a poll
		// that finds nothing for a while ends the replay instead.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fetches := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if fetches.NumRecords() == 0 && pctx.Err() != nil {
			logger.Info("no more dead letters arrive; stopping", "partitions_left", len(end))
			break
		}
		for _, fe := range fetches.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				logger.Warn("fetching dead letters", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
			}
		}
		var batch []*kgo.Record
		var sources []*kgo.Record
		commit := kadm.Offsets{}
		fetches.EachRecord(func(r *kgo.Record) {
			stop, ok := end[r.Partition]
			if !ok || r.Offset >= stop || done() {
				return
			}
			if r.Offset+1 >= stop {
				delete(end, r.Partition)
			}
			target, _ := Header(r, HeaderDLQOriginTopic)
			if o.ToTopic != "" {
				target = o.ToTopic
			}
			if o.OnRecord != nil {
				o.OnRecord(r, target)
			}
			commit.Add(kadm.Offset{Topic: r.Topic, Partition: r.Partition, At: r.Offset + 1, LeaderEpoch: -1})
			if target == "" || !kafka.ValidTopic(target) {
				res.Skipped++
				logger.Warn("dead letter has no origin topic; skipped", "partition", r.Partition, "offset", r.Offset)
				return
			}
			res.Replayed++
			res.ByTopic[target]++
			batch = append(batch, replayRecord(r, target))
			sources = append(sources, r)
		})
		if o.DryRun || len(commit) == 0 {
			continue
		}
		if err := produceReplay(ctx, o.Client, batch, sources); err != nil {
			return res, err
		}
		if err := commitReplay(ctx, adm, o.Group, commit); err != nil {
			return res, err
		}
	}
	return res, nil
}

// replayRecord is r as it was before it was dead-lettered.
func replayRecord(r *kgo.Record, target string) *kgo.Record {
	replays := 0
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+2)
	for _, h := range r.Headers {
		switch {
		case strings.HasPrefix(h.Key, dlqHeaderPrefix):
		case h.Key == HeaderReplays:
			replays, _ = strconv.Atoi(string(h.Value))
		case h.Key == HeaderReplayedFrom:
		default:
			hs = append(hs, h)
		}
	}
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderReplayedFrom, Value: []byte(r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderReplays, Value: []byte(strconv.Itoa(replays + 1))},
	)
	return &kgo.Record{Topic: target, Key: r.Key, Value: r.Value, Headers: hs}
}

func produceReplay(ctx context.Context, kc *kafka.Client, batch, sources []*kgo.Record) error {
	if len(batch) == 0 {
		return nil
	}
	parts := map[string]int32{}
	for i, r := range batch {
		n, ok := parts[r.Topic]
		if !ok {
			var err error
			if n, err = kc.Partitions(ctx, r.Topic); err != nil {
				return fmt.Errorf("target topic %q: %w", r.Topic, err)
			}
			parts[r.Topic] = n
		}
		origin := int32(-1)
		if s, ok := Header(sources[i], HeaderDLQOriginPartition); ok {
			if p, err := strconv.Atoi(s); err == nil {
				origin = int32(p)
			}
		}
		switch {
		case origin >= 0 && origin < n:
			r.Partition = origin
		case r.Key != nil:
			r.Partition = kafka.KeyPartition(r.Key, n)
		default:
			r.Partition = 0
		}
	}
	for _, x := range kc.ProduceSync(ctx, batch) {
		if x.Err != nil {
			return fmt.Errorf("replaying: %w", x.Err)
		}
	}
	return nil
}

func commitReplay(ctx context.Context, adm *kadm.Client, group string, offs kadm.Offsets) error {
	resp, err := adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("committing replay progress of group %q (is another replay running?): %w", group, err)
	}
	return nil
}

// SortedTopics returns the keys of m sorted, for reports.
func SortedTopics(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ReplayGroup is the replay group of dlqTopic when ReplayOptions.Group is
// empty.
func ReplayGroup(dlqTopic string) string { return "kgate-dlq-replay." + dlqTopic }
