package cli

import (
	"context"
	"flag"

	"github.com/kgate/kgate/internal/app"
	"github.com/kgate/kgate/internal/config"
)

func runServe(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("kgate serve", flag.ContinueOnError)
	cf := newConfigFlags(fs, config.ServeCommand)
	cf.addServeFlags()
	if code, ok := parseFlags(fs, args, env.Stderr); !ok {
		return code
	}
	cfg, code := cf.loadValid(env, nil)
	if code != exitOK {
		return code
	}
	logger, lw := newAsyncLogger(env, cfg.Log)
	lw.Start()
	defer lw.Close()
	ready := func(app.Info) {
		// Start-up is over: its pages of the executable can go.
		before, after, err := releaseStartupPages()
		logger.Debug("released start-up pages of the executable", "rss_file_before", before, "rss_file_after", after, "err", err)
	}
	if err := app.ServeProcess(ctx, cfg, app.Process{Logger: logger, Ready: ready, LogDropped: lw.Dropped, Version: Version()}); err != nil {
		logger.Error("kgate serve failed", "err", err)
		return exitFail
	}
	return exitOK
}
