package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
)

// ticker is a piece of timed work: flows, scheduled campaigns, housekeeping.
// Cron only triggers it; the work itself is an ordinary call with the time, so
// tests call Tick with a fake clock instead of waiting for cron.
type ticker struct {
	name string
	tick func(ctx context.Context, now time.Time) error
}

// startScheduler runs every ticker each interval until ctx ends. robfig/cron
// skips a run while the previous one of the same job is still going, so a slow
// tick never piles up behind itself. The tickers read their own cron
// expressions (campaigns, offers) in the shop's zone, given to them in their
// Config; the runner gets it too, so any spec added here means the same.
func startScheduler(ctx context.Context, every time.Duration, loc *time.Location, now func() time.Time, log *slog.Logger, tickers ...ticker) *cron.Cron {
	c := cron.New(cron.WithLocation(loc), cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)))
	for _, t := range tickers {
		c.Schedule(cron.Every(every), cron.FuncJob(func() {
			if ctx.Err() != nil {
				return
			}
			if err := t.tick(ctx, now()); err != nil && ctx.Err() == nil {
				log.Error("scheduled work failed", slog.String("job", t.name), slog.Any("error", err))
			}
		}))
	}
	c.Start()
	return c
}

// pruneMail deletes sent and failed mail and captured mail older than
// --mail-retention at now: they hold addresses and bodies no one needs after
// a month.
func (a *app) pruneMail(ctx context.Context, now time.Time) error {
	q, err := a.queue.Prune(ctx, now, a.cfg.MailRetention)
	if err != nil {
		return err
	}
	o, err := a.outbox.Prune(ctx, now, a.cfg.MailRetention)
	if err != nil {
		return err
	}
	if q+o > 0 {
		a.log.Info("old mail pruned", slog.Int64("queue_rows", q), slog.Int64("outbox_rows", o))
	}
	return nil
}
