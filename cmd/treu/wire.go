package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/contact"
	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/feedback"
	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/imports"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/loyalty"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/tracking"
	"github.com/treu-mail/treu/txmail"
	"github.com/treu-mail/treu/web"
	"github.com/treu-mail/treu/webhooks"
)

// app is every service of a running Treu, built once from the config.
type app struct {
	addr       string // where HTTP listens
	bounceAddr string // where the bounce listener listens, if it does
	cfg        config
	log        *slog.Logger
	db         *store.DB
	deps       web.Deps
	queue      *mailer.Queue
	outbox     *mailer.Outbox
	smtp       []*mailer.SMTP
	subs       *subscribers.Service
	campaigns  *campaigns.Engine
	events     *events.Service
	flows      *flows.Engine
	coupons    *coupons.Service
	imports    *imports.Service
	retention  *retention.Service
	loyalty    *loyalty.Service
	tracking   *tracking.Service
	feedback   *feedback.Service
	webhooks   *webhooks.Service
	verp       *feedback.VERP
	metrics    *web.Metrics
}

// wire builds the services. Nothing runs yet: start does that.
func wire(ctx context.Context, cfg config, db *store.DB, secret []byte, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log, db: db, metrics: web.NewMetrics()}
	outbox := mailer.NewOutbox(db, log.With("component", "outbox"))
	a.outbox = outbox

	// Transports: the SMTP servers, or the outbox when none is configured.
	var (
		transports []campaigns.Transport
		subs       *subscribers.Service
	)
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
			sc.Latency = a.metrics.SMTPSend()
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

	// Every mail leaves with a VERP return path naming it, so a bounce is
	// credited to the right mail (package feedback).
	verp, err := feedback.NewVERP(secret, cfg.BounceDomain)
	if err != nil {
		return nil, fmt.Errorf("--bounce-domain: %w", err)
	}
	a.verp = verp
	a.queue = mailer.NewQueue(db, single, log.With("component", "queue"), mailer.QueueConfig{
		Workers:    cfg.Workers,
		ReturnPath: verp.Mail,
		OnResult:   a.metrics.Mails("queue"),
		OnRefused: func(ctx context.Context, tx *store.Tx, r mailer.Refusal) error {
			_, err := a.feedback.RecordTx(ctx, tx, feedback.Report{Kind: feedback.Hard, Email: r.Recipient,
				Status: strconv.Itoa(r.Code), Diagnostic: r.Reply, Source: feedback.SourceSMTP,
				Ref: feedback.Ref{MailID: r.MailID, SubscriberID: r.SubscriberID}})
			return err
		},
	})
	footer := templates.Footer{ShopName: cfg.ShopName, Impressum: cfg.Impressum}
	host := hostOf(cfg.BaseURL)

	// The shop's webhooks hear of what changes a subscriber or a campaign.
	a.webhooks = webhooks.New(db, webhooks.Config{AllowPrivate: cfg.WebhookAllowPrivate}, log.With("component", "webhooks"))
	subs, err = subscribers.New(db, a.queue, subscribers.Config{
		BaseURL:    cfg.BaseURL,
		From:       cfg.From,
		FromName:   cfg.FromName,
		ShopName:   cfg.ShopName,
		Footer:     subscribers.Footer{ShopName: cfg.ShopName, Impressum: cfg.Impressum},
		Secret:     secret,
		PendingTTL: cfg.PendingTTL,
		Erasers:    []subscribers.Eraser{a.queue, outbox, a.webhooks},
	}, log.With("component", "subscribers"))
	if err != nil {
		return nil, err
	}
	a.subs = subs
	// Clicks and opens: per person only with the subscriber's tracking consent.
	// A person's click is a link.clicked webhook, written with the click.
	clicks := webhooks.Clicks{Hooks: a.webhooks, Email: func(ctx context.Context, tx *store.Tx, id int64) (string, error) {
		ad, err := subs.FindAddressee(ctx, tx, id, "")
		if errs.Is(err, errs.NotFound) {
			return "", nil // erased since the look-up of the consent
		}
		return ad.Email, err
	}}
	a.tracking = tracking.New(db, tracking.Config{BaseURL: cfg.BaseURL, Secret: secret, UTM: cfg.UTM,
		AttributionWindow: cfg.Attribution, OnClick: clicks.Clicked, OnScanner: clicks.Scanner},
		subs, log.With("component", "tracking"))
	segs := segments.NewStore(db, log.With("component", "segments"))
	pools := coupons.New(db, log.With("component", "coupons"))
	a.coupons = pools
	if a.loyalty, err = loyalty.New(db, cfg.Loyalty, pools, log.With("component", "loyalty")); err != nil {
		return nil, err
	}
	a.loyalty.Links = loyalty.NewReferralLinks(secret, cfg.BaseURL)
	a.events = events.New(db, log.With("component", "events"), events.Config{
		// An order is credited to the campaign or flow mail that earned it,
		// and earns its points, in the transaction that stores it.
		OnOrder: func(ctx context.Context, tx *store.Tx, o events.PlacedOrder) error {
			if err := a.tracking.OrderPlaced(ctx, tx, tracking.Order{ID: o.OrderID, SubscriberID: o.SubscriberID,
				Currency: o.Currency, Total: o.Total, PlacedAt: o.PlacedAt, CampaignID: o.CampaignID}); err != nil {
				return err
			}
			return a.loyalty.OnOrder(ctx, tx, o)
		},
		OnRefund: a.loyalty.OnRefund,
	})
	rcfg := cfg.Stages.retention()
	rcfg.Location = cfg.Location // the report's days and months are the shop's
	if a.retention, err = retention.New(db, rcfg, log.With("component", "retention")); err != nil {
		return nil, err
	}
	a.retention.Links = retention.NewSurveyLinks(secret, cfg.BaseURL)
	a.retention.Attribution = func(ctx context.Context, from, to time.Time) ([]retention.MailRevenue, error) {
		ms, err := a.tracking.RevenueByMail(ctx, from, to)
		out := make([]retention.MailRevenue, len(ms))
		for i, m := range ms {
			out[i] = retention.MailRevenue(m)
		}
		return out, err
	}
	// A new order moves its customer on the ladder in the order's transaction.
	a.events.OnOrder = func(ctx context.Context, tx *store.Tx, id int64) error {
		_, _, err := a.retention.Recompute(ctx, tx, id)
		return err
	}
	a.flows, err = flows.New(db, a.queue, subs, segs, pools, flows.Config{
		From:     cfg.From,
		FromName: cfg.FromName,
		ListID:   "newsletter." + host,
		Footer:   footer,
		Location: cfg.Location,
		Tracking: a.tracking,
		// Webhook steps queue a flow.webhook event on the durable queue.
		Emit:    a.webhooks.Emit,
		Loyalty: a.loyalty.TemplateData,
		Survey:  a.retention.Links.URL,
		// Gmail's feedback loop reports complaint rates per Feedback-ID.
		FeedbackSender: host,
		// Bounces and complaints in the per-step figures (a.feedback is
		// made below; it asks the flows which flow a mail was).
		Feedback: func(ctx context.Context, flow string) ([]flows.MailFeedback, error) {
			ms, err := a.feedback.Flow(ctx, flow)
			out := make([]flows.MailFeedback, len(ms))
			for i, m := range ms {
				out[i] = flows.MailFeedback{SubscriberID: m.SubscriberID, MailID: m.MailID, Bounced: m.Bounced, Complained: m.Complained}
			}
			return out, err
		},
		Contact: cfg.Contact,
	}, log.With("component", "flows"))
	if err != nil {
		return nil, err
	}
	// A shop event and a stage change start their flows in the transaction
	// that stores them: never lost, never started twice.
	a.events.OnEvent = a.flows.OnEvent
	a.retention.OnChange(a.flows.OnStageChange)
	// Confirming starts the welcome flow and attaches the carts and orders the
	// shop reported for this address before it enrolled.
	subs.OnActivated = func(ctx context.Context, tx *store.Tx, s subscribers.Subscriber) error {
		if err := a.events.Link(ctx, tx, s.ID); err != nil {
			return err
		}
		if _, _, err := a.retention.Recompute(ctx, tx, s.ID); err != nil {
			return err
		}
		if err := a.webhooks.Emit(ctx, tx, webhooks.SubscriberConfirmed, fmt.Sprintf("subscriber:%d", s.ID),
			map[string]any{"subscriber_id": s.ID, "email": s.Email}); err != nil {
			return err
		}
		return a.flows.Confirmed(ctx, tx, s.ID)
	}
	subs.OnUnsubscribed = func(ctx context.Context, tx *store.Tx, id int64, channel string) error {
		return a.webhooks.Emit(ctx, tx, webhooks.SubscriberUnsubscribed, fmt.Sprintf("subscriber:%d", id),
			map[string]any{"subscriber_id": id, "channel": channel})
	}
	a.feedback = feedback.New(db, subs, feedback.Config{
		Rules:  feedback.Rules{SoftLimit: cfg.SoftBounceLimit, SoftWindow: cfg.SoftBounceWindow},
		FlowOf: a.flows.FlowOfMail,
		VERP:   verp,
		Emit:   a.webhooks.Emit,
		OnReport: func() func(feedback.Kind) {
			count := a.metrics.Feedback()
			return func(k feedback.Kind) { count(string(k)) }
		}(),
	}, log.With("component", "feedback"))
	a.campaigns = campaigns.New(db, campaigns.Config{
		From:     cfg.From,
		FromName: cfg.FromName,
		BaseURL:  cfg.BaseURL,
		Footer:   func(context.Context) (templates.Footer, error) { return footer, nil },
		Location: cfg.Location,
		Pools:    pools,
		Tracking: a.tracking,
		Contact:  cfg.Contact,
		Loyalty:  a.loyalty.TemplateData,
		OnResult: a.metrics.Mails("campaign"),
		// Feedback: VERP return paths, 5xx refusals as hard bounces, and
		// bounces and complaints in the figures.
		ReturnPath: verp.Delivery,
		OnRefused: func(ctx context.Context, tx *store.Tx, r campaigns.Refusal) error {
			_, err := a.feedback.RecordTx(ctx, tx, feedback.Report{Kind: feedback.Hard,
				Status: strconv.Itoa(r.Code), Diagnostic: r.Reply, Source: feedback.SourceSMTP,
				Ref: feedback.Ref{CampaignID: r.CampaignID, DeliveryID: r.DeliveryID, SubscriberID: r.SubscriberID}})
			return err
		},
		OnFinished: func(ctx context.Context, tx *store.Tx, id int64) error {
			return a.webhooks.Emit(ctx, tx, webhooks.CampaignFinished, "", map[string]any{"campaign_id": id})
		},
		Feedback: func(ctx context.Context, id int64) (campaigns.FeedbackCounts, error) {
			c, err := a.feedback.Campaign(ctx, id)
			return campaigns.FeedbackCounts{Bounced: c.Bounced, BouncedAfterSend: c.BouncedAfterSend, Complained: c.Complained}, err
		},
	}, transports, subs, log.With("component", "campaigns"))
	a.imports, err = imports.New(db, subs, imports.Config{Dir: filepath.Join(cfg.Data, "imports")},
		log.With("component", "imports"))
	if err != nil {
		return nil, err
	}
	subs.AddErasers(a.events, a.campaigns, contact.Eraser{})
	txm, err := txmail.New(db, a.queue, txmail.Config{From: cfg.From, FromName: cfg.FromName, Footer: footer},
		log.With("component", "txmail"))
	if err != nil {
		return nil, err
	}

	providers := &feedback.Providers{MailgunKey: []byte(cfg.MailgunWebhookKey), BasicSecret: cfg.WebhookBasicSecret}
	if cfg.SESTopicARN != "" {
		providers.SES = &feedback.SNSVerifier{}
		for _, arn := range strings.Split(cfg.SESTopicARN, ",") {
			if arn = strings.TrimSpace(arn); arn != "" {
				providers.SES.TopicARNs = append(providers.SES.TopicARNs, arn)
			}
		}
	}
	if cfg.SendGridWebhookKey != "" {
		if providers.SendGridKey, err = feedback.ParseSendGridKey(cfg.SendGridWebhookKey); err != nil {
			return nil, fmt.Errorf("--sendgrid-webhook-key: %w", err)
		}
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
		Imports:     a.imports,
		Outbox:      outbox,
		TxMail:      txm,
		Retention:   a.retention,
		Loyalty:     a.loyalty,
		Tracking:    a.tracking,
		Feedback:    a.feedback,
		Providers:   providers,
		Webhooks:    a.webhooks,
		Metrics:     a.metrics,
		Log:         log,
		UI: web.UIDeps{
			SessionKey: secret,
			Settings: web.UISettings{ShopName: cfg.ShopName, SMTPURL: cfg.SMTPURL, From: cfg.From,
				BaseURL: cfg.BaseURL, Impressum: cfg.Impressum,
				ContactPerDay: cfg.ContactPerDay, ContactPerWeek: cfg.ContactPerWeek, QuietHours: cfg.Contact.QuietString()},
			SMTPCheck:   a.smtpCheck(),
			Campaigns:   a.campaigns,
			Outbox:      outbox,
			Subscribers: subs,
			Segments:    segs,
		},
	}
	a.metrics.GaugeFuncs(map[string]string{
		"treu_mail_queue":                "Single mails in the durable queue by status.",
		"treu_mail_queue_oldest_seconds": "Age of the oldest queued single mail; 0 when none waits.",
	}, func() map[string]map[string]float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := a.queue.Stats(ctx)
		if err != nil {
			a.log.Warn("metrics query", slog.Any("error", err))
			return nil
		}
		return map[string]map[string]float64{
			"treu_mail_queue": {`status="queued"`: float64(st.Queued), `status="retrying"`: float64(st.Retrying),
				`status="sent"`: float64(st.Sent), `status="failed"`: float64(st.Failed)},
			"treu_mail_queue_oldest_seconds": {"": st.OldestQueued.Seconds()},
		}
	})
	a.metrics.GaugeFunc("treu_subscribers", "Subscribers by status.", func() map[string]float64 {
		return a.gauge(func(ctx context.Context) (map[string]int64, error) { return subscribers.CountByStatus(ctx, a.db) })
	})
	a.metrics.GaugeFunc("treu_campaign_deliveries", "Deliveries of running and paused campaigns by status.", func() map[string]float64 {
		return a.gauge(func(ctx context.Context) (map[string]int64, error) { return campaigns.DeliveryCounts(ctx, a.db) })
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

// gauge reads counts by status for a gauge; a scrape must not fail
// because one read did, so errors give an empty gauge.
func (a *app) gauge(read func(ctx context.Context) (map[string]int64, error)) map[string]float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := read(ctx)
	if err != nil {
		a.log.Warn("metrics query", slog.Any("error", err))
		return nil
	}
	out := make(map[string]float64, len(counts))
	for label, n := range counts {
		out[`status="`+label+`"`] = float64(n)
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
	run("webhooks", a.webhooks.Run)

	now := a.db.Now
	sched := startScheduler(ctx, a.cfg.FlowTick, a.cfg.Location, now, a.log,
		ticker{"flows", func(ctx context.Context, now time.Time) error {
			if _, err := a.flows.Tick(ctx, now); err != nil {
				return err
			}
			a.queue.Wake()
			return nil
		}},
		ticker{"campaigns", a.campaigns.Tick},
		ticker{"imports", func(ctx context.Context, _ time.Time) error { return a.resumeImports(ctx, wg) }},
	)
	// Imports another run left unfinished (stopped, crashed) go on at once.
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.resumeImports(ctx, wg); err != nil && ctx.Err() == nil {
			a.log.Error("resume imports", slog.Any("error", err))
		}
	}()
	// Housekeeping needs no precision: hourly is plenty.
	house := startScheduler(ctx, time.Hour, a.cfg.Location, now, a.log,
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
		ticker{"prune imports", func(ctx context.Context, _ time.Time) error {
			_, err := a.imports.Prune(ctx)
			return err
		}},
		ticker{"prune mail", a.pruneMail},
		ticker{"prune contact log", func(ctx context.Context, now time.Time) error {
			_, err := contact.Prune(ctx, a.db, now)
			return err
		}},
		ticker{"prune webhook deliveries", func(ctx context.Context, now time.Time) error {
			return a.webhooks.Prune(ctx, now.Add(-30*24*time.Hour))
		}},
	)
	// Time alone moves customers to lapsing and lost: once a day.
	daily := startScheduler(ctx, 24*time.Hour, a.cfg.Location, now, a.log,
		ticker{"stages", func(ctx context.Context, now time.Time) error {
			if _, err := a.retention.Pass(ctx, now); err != nil {
				return err
			}
			// Balances that reached the reward become coupon codes.
			if _, err := a.loyalty.Pass(ctx); err != nil {
				return err
			}
			// The retention page reads the report computed here.
			from, to := retention.DefaultPeriod(now, a.cfg.Location)
			_, err := a.retention.Precompute(ctx, from, to, a.subs.Count)
			return err
		}},
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		<-sched.Stop().Done()
		<-house.Stop().Done()
		<-daily.Stop().Done()
	}()
}

// resumeImports runs the imports whose instance stopped or crashed (their
// lease lapsed) until ctx ends; wg tracks them.
func (a *app) resumeImports(ctx context.Context, wg *sync.WaitGroup) error {
	ids, err := a.imports.Lapsed(ctx)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.imports.Run(ctx, id) // records its own failure on the job
		}()
	}
	return err
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
