// Command kgate is a secure, multi-tenant HTTP gateway to Apache Kafka and
// the workers behind it. See the README for the subcommands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kgate/kgate/internal/cli"
)

func main() {
	// The first SIGINT/SIGTERM cancels ctx and starts a graceful shutdown;
	// once ctx is done, stop() restores the default handlers so that a
	// second signal kills the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	code := cli.Run(ctx, os.Args[1:], cli.Std())
	stop()
	os.Exit(code)
}
