package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kgate/kgate/internal/app/worker"
	"github.com/kgate/kgate/internal/config"
	"github.com/kgate/kgate/internal/consumer"
	"github.com/kgate/kgate/internal/kafka"
)

const dlqUsage = `usage: kgate dlq replay [flags]

Sends the dead letters of --dlq-topic (those there when the replay starts)
back to the topics they came from, without the kgate-dlq-* headers. The
replay group remembers how far it got, so each dead letter is replayed once.

Flags:
`

// dlqConfigFlags registers the configuration flags of kgate dlq replay
// on fs; adjust applies --security-protocol.
func dlqConfigFlags(fs *flag.FlagSet) (cf *configFlags, adjust func(*config.Config) error) {
	cf = newConfigFlags(fs, config.DLQCommand)
	cf.addClusterFlags()
	addKafkaFlags(cf)
	cf.add("dlq-topic", "dead-letter topic to replay", field(func(c *config.Config) any { return &c.Handle.DLQTopic }))
	return cf, securityProtocol(cf)
}

// runDLQ implements `kgate dlq replay`.
func runDLQ(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] != "replay" {
		fmt.Fprint(env.Stderr, dlqUsage)
		return exitConfig
	}
	fs := flag.NewFlagSet("kgate dlq replay", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), dlqUsage)
		fs.PrintDefaults()
	}
	cf, adjust := dlqConfigFlags(fs)
	replayGroup := fs.String("replay-group", "", "group recording replay progress (default "+consumer.ReplayGroup("DLQ_TOPIC")+")")
	toTopic := fs.String("to-topic", "", "send every dead letter to this topic instead of its origin")
	max := fs.Int("max", 0, "replay at most this many dead letters (0: all)")
	dryRun := fs.Bool("dry-run", false, "list what would be replayed; produce and commit nothing")
	if code, ok := parseFlags(fs, args[1:], env.Stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return errorf(env, exitConfig, "dlq replay", "unexpected arguments %q", fs.Args())
	}
	cfg, code := cf.loadValid(env, adjust)
	if code != exitOK {
		return code
	}
	if cfg.Handle.DLQTopic == "" {
		return errorf(env, exitConfig, "dlq replay", "--dlq-topic is required")
	}
	logger := newLogger(env, cfg.Log)
	brokers, err := worker.Brokers(cfg)
	if err != nil {
		return errorf(env, exitFail, "dlq replay", "%v", err)
	}
	kc, err := kafka.New(kafka.Options{Brokers: brokers, Kafka: cfg.Kafka, Logger: logger})
	if err != nil {
		return errorf(env, exitFail, "dlq replay", "%v", err)
	}
	defer kc.Close()

	res, err := consumer.Replay(ctx, consumer.ReplayOptions{
		Client:   kc,
		DLQTopic: cfg.Handle.DLQTopic,
		Group:    *replayGroup,
		ToTopic:  *toTopic,
		Max:      *max,
		DryRun:   *dryRun,
		Logger:   logger,
		OnRecord: func(r *kgo.Record, target string) {
			if !*dryRun {
				return
			}
			reason, _ := consumer.Header(r, consumer.HeaderDLQReason)
			msg, _ := consumer.Header(r, consumer.HeaderDLQError)
			if target == "" {
				target = "(no origin: skipped)"
			}
			fmt.Fprintf(env.Stdout, "%s/%d/%d -> %s  reason=%s error=%q\n", r.Topic, r.Partition, r.Offset, target, reason, msg)
		},
	})
	var parts []string
	for _, t := range consumer.SortedTopics(res.ByTopic) {
		parts = append(parts, fmt.Sprintf("%s: %d", t, res.ByTopic[t]))
	}
	verb := "replayed"
	if *dryRun {
		verb = "would replay"
	}
	fmt.Fprintf(env.Stdout, "%s %d dead letters (%s); skipped %d without an origin topic\n", verb, res.Replayed, strings.Join(parts, ", "), res.Skipped)
	if err != nil {
		return errorf(env, exitFail, "dlq replay", "%v", err)
	}
	return exitOK
}
