package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/txmail"
	"github.com/treu-mail/treu/web"
)

// app is every service of a running Treu, built once from the config.
type app struct {
	addr      string // where HTTP listens
	cfg       config
	log       *slog.Logger
	db        *store.DB
	deps      web.Deps
	queue     *mailer.Queue
	smtp      []*mailer.SMTP
	subs      *subscribers.Service
	campaigns *campaigns.Engine
	events    *events.Service
	flows     *flows.Engine
	coupons   *coupons.Service
	metrics   *web.Metrics
}

// wire builds the services. Nothing runs yet: start does that.
func wire(ctx context.Context, cfg config, db *store.DB, secret []byte, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log, db: db, metrics: web.NewMetrics()}
	outbox := mailer.NewOutbox(db, log.With("component", "outbox"))

	// Transports: the SMTP servers, or the outbox when none is configured.
	var transports []campaigns.Transport
	var single mailer.Transport = outbox
	if cfg.SMTPURL != "" {
		var dkim *mailer.DKIM
		if cfg.DKIMKey != "" {
			pem, err := os.ReadFile(cfg.DKIMKey)
			if err != nil {
				return nil, fmt.Errorf("--dkim-key: %w", err)
			}
			domain := cfg.DKIMDomain
			if domain == "" {
				domain = cfg.From[strings.LastIndexByte(cfg.From, '@')+1:]
			}
			if dkim, err = mailer.NewDKIM(domain, cfg.DKIMSelector, pem); err != nil {
				return nil, fmt.Errorf("--dkim-key: %w", err)
			}
		}
		var all []mailer.Transport
		for _, raw := range strings.Fields(cfg.SMTPURL) {
			sc, err := mailer.ParseSMTPURL(raw)
			if err != nil {
				return nil, fmt.Errorf("--smtp-url: %w", err)
			}
			sc.DKIM = dkim
			t, err := mailer.NewSMTP(sc, log.With("component", "smtp", "host", sc.Host))
			if err != nil {
				return nil, fmt.Errorf("--smtp-url: %w", err)
			}
			a.smtp = append(a.smtp, t)
			transports = append(transports, t)
			all = append(all, t)
		}
		single = mailer.NewMulti(all...)
	} else {
		transports = []campaigns.Transport{outbox}
	}

	a.queue = mailer.NewQueue(db, single, log.With("component", "queue"), mailer.QueueConfig{Workers: cfg.Workers})
	footer := templates.Footer{ShopName: cfg.ShopName, Impressum: cfg.Impressum}
	host := hostOf(cfg.BaseURL)

	subs, err := subscribers.New(db, a.queue, subscribers.Config{
		BaseURL:    cfg.BaseURL,
		From:       cfg.From,
		FromName:   cfg.FromName,
		ShopName:   cfg.ShopName,
		Footer:     subscribers.Footer{ShopName: cfg.ShopName, Impressum: cfg.Impressum},
		Secret:     secret,
		PendingTTL: cfg.PendingTTL,
		Erasers:    []subscribers.Eraser{a.queue},
	}, log.With("component", "subscribers"))
	if err != nil {
		return nil, err
	}
	a.subs = subs
	segs := segments.NewStore(db, log.With("component", "segments"))
	pools := coupons.New(db, log.With("component", "coupons"))
	a.coupons = pools
	a.events = events.New(db, log.With("component", "events"), events.Config{})
	a.flows, err = flows.New(db, a.queue, subs, segs, pools, flows.Config{
		From:     cfg.From,
		FromName: cfg.FromName,
		ListID:   "newsletter." + host,
		Footer:   footer,
	}, log.With("component", "flows"))
	if err != nil {
		return nil, err
	}
	// Confirming starts the welcome flow and attaches the carts and orders the
	// shop reported for this address before it enrolled.
	subs.OnActivated = func(ctx context.Context, tx *store.Tx, s subscribers.Subscriber) error {
		if err := a.events.Link(ctx, tx, s.ID); err != nil {
			return err
		}
		return a.flows.StartWelcome(ctx, tx, s.ID)
	}
	a.campaigns = campaigns.New(db, campaigns.Config{
		From:     cfg.From,
		FromName: cfg.FromName,
		BaseURL:  cfg.BaseURL,
		Footer:   func(context.Context) (templates.Footer, error) { return footer, nil },
	}, transports, subs, log.With("component", "campaigns"))
	txm, err := txmail.New(db, a.queue, txmail.Config{From: cfg.From, FromName: cfg.FromName, Footer: footer},
		log.With("component", "txmail"))
	if err != nil {
		return nil, err
	}

	a.deps = web.Deps{
		DB: db,
		Accounts: accounts.New(db, accounts.WithInvitations(accounts.InviteConfig{
			Secret: secret, Mail: a.queue, From: cfg.From, FromName: cfg.FromName, BaseURL: cfg.BaseURL,
		})),
		Subscribers: subs,
		Segments:    segs,
		Campaigns:   a.campaigns,
		Events:      a.events,
		Flows:       a.flows,
		Coupons:     pools,
		Outbox:      outbox,
		TxMail:      txm,
		Metrics:     a.metrics,
		Log:         log,
		UI: web.UIDeps{
			SessionKey: secret,
			Settings: web.UISettings{ShopName: cfg.ShopName, SMTPURL: cfg.SMTPURL, From: cfg.From,
				BaseURL: cfg.BaseURL, Impressum: cfg.Impressum},
			SMTPCheck:   a.smtpCheck(),
			Campaigns:   a.campaigns,
			Outbox:      outbox,
			Subscribers: subs,
			Segments:    segs,
		},
	}
	a.metrics.GaugeFunc("treu_mail_queue", "Single mails in the durable queue by status.", func() map[string]float64 {
		st, err := a.queue.Stats(context.Background())
		if err != nil {
			return nil
		}
		return map[string]float64{`status="queued"`: float64(st.Queued), `status="retrying"`: float64(st.Retrying),
			`status="sent"`: float64(st.Sent), `status="failed"`: float64(st.Failed)}
	})
	a.metrics.GaugeFunc("treu_subscribers", "Subscribers by status.", func() map[string]float64 {
		return a.countBy(`SELECT status, count(*) FROM subscribers GROUP BY status`)
	})
	a.metrics.GaugeFunc("treu_campaign_deliveries", "Deliveries of running and paused campaigns by status.", func() map[string]float64 {
		return a.countBy(`SELECT d.status, count(*) FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
			WHERE c.status IN ('running', 'paused') GROUP BY d.status`)
	})
	return a, nil
}

// smtpCheck asks every SMTP server whether it answers, for the settings
// page's button; nil when mail is only captured.
func (a *app) smtpCheck() func(ctx context.Context) error {
	if len(a.smtp) == 0 {
		return nil
	}
	return func(ctx context.Context) error {
		var all []error
		for i, t := range a.smtp {
			if err := t.Check(ctx); err != nil {
				all = append(all, fmt.Errorf("SMTP server %d: %w", i+1, err))
			}
		}
		return errors.Join(all...)
	}
}

// countBy runs a "label, count" query for a gauge; a scrape must not fail
// because one query did, so errors give an empty gauge.
func (a *app) countBy(query string) map[string]float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := a.db.QueryContext(ctx, query)
	if err != nil {
		a.log.Warn("metrics query", slog.Any("error", err))
		return nil
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var label string
		var n float64
		if rows.Scan(&label, &n) == nil {
			out[`status="`+label+`"`] = n
		}
	}
	return out
}

// start runs the workers and the scheduler until ctx ends; wg tracks them.
func (a *app) start(ctx context.Context, wg *sync.WaitGroup) {
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("worker stopped", slog.String("worker", name), slog.Any("error", err))
			}
		}()
	}
	run("mail queue", a.queue.Run)
	run("campaigns", a.campaigns.Run)

	now := a.db.Now
	sched := startScheduler(ctx, a.cfg.FlowTick, now, a.log,
		ticker{"flows", func(ctx context.Context, now time.Time) error {
			if _, err := a.flows.Tick(ctx, now); err != nil {
				return err
			}
			a.queue.Wake()
			return nil
		}},
		ticker{"campaigns", a.campaigns.Tick},
	)
	// Housekeeping needs no precision: hourly is plenty.
	house := startScheduler(ctx, time.Hour, now, a.log,
		ticker{"purge pending", func(ctx context.Context, _ time.Time) error {
			_, err := a.subs.PurgePending(ctx)
			return err
		}},
		ticker{"link events", func(ctx context.Context, _ time.Time) error {
			_, err := a.events.LinkAll(ctx)
			return err
		}},
		ticker{"prune events", func(ctx context.Context, _ time.Time) error {
			_, err := a.events.Prune(ctx)
			return err
		}},
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		<-sched.Stop().Done()
		<-house.Stop().Done()
	}()
}

// close releases what the services hold; the workers have stopped by now.
func (a *app) close() {
	for _, t := range a.smtp {
		t.Close()
	}
	a.subs.Close()
	a.events.Close()
	a.flows.Close()
	a.coupons.Close()
}

func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return "localhost"
	}
	return u.Hostname()
}
