package campaigns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/treu-mail/treu/contact"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/tracking"
)

// Transport delivers one message; safe for concurrent use. *mailer.SMTP and
// *mailer.Outbox satisfy it.
type Transport interface {
	Send(ctx context.Context, m *mailer.Message) error
}

// Links makes a subscriber's signed customer links (package subscribers).
// Both links share one token, so a recipient costs one HMAC, not two.
type Links interface {
	ManageURLs(subscriberID int64) (unsubscribe, preferences string)
}

// Config is the engine's settings. Zero values take the defaults shown.
type Config struct {
	From, FromName, ReplyTo string
	// BaseURL of the instance; its host names the List-Id: "<list-slug>.<host>".
	BaseURL           string
	UnsubscribeMailto string
	// Pools checks a campaign's coupon pool; nil: campaigns take no coupons.
	Pools Pools
	// Footer gives the shop name and Impressum for every mail (from settings).
	Footer func(ctx context.Context) (templates.Footer, error)
	// Now is the clock for leases and retry times; default the store's clock.
	Now func() time.Time
	// Location evaluates cron expressions without CRON_TZ= (default UTC).
	Location *time.Location

	// Owner names this instance in delivery leases; unique per process by default.
	// Instances sharing a database must use different owners.
	Owner string
	// BatchSize deliveries are claimed and recorded per transaction (500).
	BatchSize int
	// Conns is the concurrency for a Transport that does not report MaxConns (4).
	Conns int
	// Lease is how long a claim holds a delivery without renewal (30s); a crashed
	// instance's deliveries are sent by another one after it expires.
	Lease time.Duration
	// A temporary SMTP failure retries after RetryBackoff (1m), doubling up to
	// MaxRetryBackoff (2h); after MaxAttempts (12) temporary failures it is failed.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	MaxAttempts     int
	// DownAfter consecutive temporary failures (10) mark a transport down: it
	// sends nothing for DownBackoff (1s), doubling up to MaxDownBackoff (1m).
	DownAfter      int
	DownBackoff    time.Duration
	MaxDownBackoff time.Duration
	// PollInterval (500ms): how often the engine looks for campaigns started,
	// paused or cancelled elsewhere, and for due retries.
	PollInterval time.Duration
	// FlushInterval (2ms) is the longest a result waits for company before
	// it is recorded: results are written as they come back, in one
	// transaction per FlushInterval (or per BatchSize) at most, so a kill -9
	// can send twice only the mails in flight plus ~2 ms of accepted ones.
	// One transaction per result would cost a commit per mail.
	FlushInterval time.Duration
	// Tracking rewrites the links of every campaign mail to tracked
	// redirects (and adds the open pixel where consented); nil sends them
	// as written. Previews and test sends are never rewritten.
	Tracking *tracking.Service
	// Contact is the contact policy (frequency cap, quiet hours; package
	// contact) each batch is checked against, as the campaign's
	// contact_policy says; nil: none.
	Contact *contact.Policy
	// Loyalty reads recipients' points and referral links ({{ .Points }},
	// {{ .ReferralURL }}; package loyalty), per batch and only for mails
	// that print them; nil: they stay empty.
	Loyalty templates.LoyaltyOf

	// Feedback (package feedback), each optional:
	// ReturnPath gives each delivery its envelope sender (a VERP address
	// naming the delivery, so a bounce is credited to it).
	ReturnPath func(campaignID, deliveryID, subscriberID int64) string
	// OnRefused runs inside the transaction that records a delivery the
	// SMTP server refused with a 5xx: a hard bounce.
	OnRefused func(ctx context.Context, tx *store.Tx, r Refusal) error
	// OnFinished runs inside the transaction that marks a send finished
	// (the shop's webhooks hear of it).
	OnFinished func(ctx context.Context, tx *store.Tx, campaignID int64) error
	// OnResult, if set, hears after each recorded batch how many deliveries
	// ended with result "sent", "retry", "failed", "skipped", "capped" or
	// "held" (for /metrics).
	OnResult func(result string, n int)
	// Feedback counts what came back after the send, for Stats.
	Feedback func(ctx context.Context, campaignID int64) (FeedbackCounts, error)
	// FeedbackSender is the last field of the Feedback-ID header
	// ("<campaign id>:campaign:<sender>", for Gmail's feedback loop);
	// default the host of BaseURL.
	FeedbackSender string
}

// Refusal is a delivery the SMTP server refused with a 5xx.
type Refusal struct {
	CampaignID, DeliveryID, SubscriberID int64
	Code                                 int
	Reply                                string
}

// FeedbackCounts are a campaign's deliveries that bounced or were
// complained about. BouncedAfterSend are bounces of deliveries the server
// had accepted (Stats counts them as sent, not delivered).
type FeedbackCounts struct {
	Bounced, BouncedAfterSend, Complained int64
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt(&c.BatchSize, 500)
	defInt(&c.Conns, 4)
	defInt(&c.MaxAttempts, 12)
	defInt(&c.DownAfter, 10)
	def(&c.Lease, 30*time.Second)
	def(&c.RetryBackoff, time.Minute)
	def(&c.MaxRetryBackoff, 2*time.Hour)
	def(&c.DownBackoff, time.Second)
	def(&c.MaxDownBackoff, time.Minute)
	def(&c.PollInterval, 500*time.Millisecond)
	def(&c.FlushInterval, 2*time.Millisecond)
	if c.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		c.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
}

// Engine owns campaigns and sends them.
type Engine struct {
	db    *store.DB
	cfg   Config
	tr    []*transport
	links Links
	log   *slog.Logger
	segs  *segments.Store

	maxInflight int
	inflight    atomic.Int64 // claimed deliveries whose result is not recorded yet

	mu      sync.Mutex
	runs    map[int64]*run // campaigns this engine is sending
	watch   chan struct{}  // closed and replaced when a campaign's status changes
	wake    chan struct{}  // cap 1: the claimer should look again
	freed   chan struct{}  // cap 1: results were recorded, in-flight room was freed
	running atomic.Bool
}

// New makes an engine. Several transports share the load; each is driven with
// as many concurrent sends as its MaxConns (if it has that method) or cfg.Conns.
func New(db *store.DB, cfg Config, tr []Transport, links Links, log *slog.Logger) *Engine {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{db: db, cfg: cfg, links: links, log: log, segs: segments.NewStore(db, log),
		runs: map[int64]*run{}, watch: make(chan struct{}),
		wake: make(chan struct{}, 1), freed: make(chan struct{}, 1)}
	conns := 0
	for _, t := range tr {
		n := cfg.Conns
		if mc, ok := t.(interface{ MaxConns() int }); ok && mc.MaxConns() > 0 {
			n = mc.MaxConns()
		}
		// A pipelining pool is kept busy by more sends than connections.
		if cc, ok := t.(interface{ Concurrency() int }); ok && cc.Concurrency() > 0 {
			n = cc.Concurrency()
		}
		e.tr = append(e.tr, &transport{Transport: t, conns: n})
		conns += n
	}
	e.maxInflight = max(3*cfg.BatchSize, cfg.BatchSize+4*conns)
	return e
}

func (e *Engine) now() time.Time {
	if e.cfg.Now != nil {
		return e.cfg.Now()
	}
	return e.db.Now()
}

// changed tells the claimer and Wait that a status may have changed.
func (e *Engine) changed() {
	e.mu.Lock()
	close(e.watch)
	e.watch = make(chan struct{})
	e.mu.Unlock()
	e.poke()
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// stopRun makes the workers hand back what they hold of campaign id.
func (e *Engine) stopRun(id int64) {
	e.mu.Lock()
	if r := e.runs[id]; r != nil {
		r.stopped.Store(true)
		delete(e.runs, id)
	}
	e.mu.Unlock()
}

// Wait blocks until campaign id has one of the statuses want (default:
// finished or cancelled). It sees changes made through this engine at once and
// others' (another instance) within PollInterval while Run is active.
func (e *Engine) Wait(ctx context.Context, id int64, want ...Status) (Status, error) {
	if len(want) == 0 {
		want = []Status{Finished, Cancelled}
	}
	for {
		e.mu.Lock()
		ch := e.watch
		e.mu.Unlock()
		var st Status
		if err := e.db.QueryRowContext(ctx, `SELECT status FROM campaigns WHERE id = ?`, id).Scan(&st); err != nil {
			return "", wrap("wait", id, err)
		}
		for _, w := range want {
			if st == w {
				return st, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// transport is one SMTP server (or outbox) with its health.
type transport struct {
	Transport
	conns int

	mu        sync.Mutex
	fails     int       // consecutive temporary failures
	downUntil time.Time // no sends before this
	backoff   time.Duration
}

func (t *transport) ok() {
	t.mu.Lock()
	t.fails, t.backoff = 0, 0
	t.mu.Unlock()
}

// fail counts a temporary failure; after cfg.DownAfter in a row the server is
// taken as down and gets no mail until its backoff has passed. Then each
// sender tries one message: the first success brings it back.
func (t *transport) fail(cfg *Config, log *slog.Logger, idx int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fails++
	now := time.Now()
	if t.fails < cfg.DownAfter || now.Before(t.downUntil) {
		return
	}
	if t.backoff == 0 {
		t.backoff = cfg.DownBackoff
	} else {
		t.backoff = min(2*t.backoff, cfg.MaxDownBackoff)
	}
	t.downUntil = now.Add(t.backoff)
	log.Warn("smtp server down, backing off", "transport", idx, "failures", t.fails, "backoff", t.backoff.String())
}

// waitUp blocks while the server is backed off.
func (t *transport) waitUp(ctx context.Context) bool {
	for {
		t.mu.Lock()
		d := time.Until(t.downUntil)
		t.mu.Unlock()
		if d <= 0 {
			return true
		}
		tm := time.NewTimer(d)
		select {
		case <-ctx.Done():
			tm.Stop()
			return false
		case <-tm.C:
		}
	}
}

// Run sends running campaigns until ctx is done: it picks up campaigns left
// running by a previous process (their expired leases are claimed again),
// claims batches of deliveries, renders and sends them with the transports'
// concurrency and records results one transaction per batch. On return every
// claim it held is recorded or handed back.
func (e *Engine) Run(ctx context.Context) error {
	if len(e.tr) == 0 {
		return errors.New("campaigns: no transport")
	}
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("campaigns: engine already running")
	}
	defer e.running.Store(false)
	if err := e.db.Prepare(ctx, recordSent); err != nil {
		e.log.Warn("prepare the record statement; it is parsed per batch", "err", err)
	}

	jobs := make(chan *item, e.maxInflight)
	results := make(chan result, e.maxInflight)
	// Sends in flight when ctx ends are finished, not torn: their results are recorded.
	sendCtx := context.WithoutCancel(ctx)

	recDone := make(chan struct{})
	go func() { defer close(recDone); e.recordLoop(results) }()

	var senders sync.WaitGroup
	for i, t := range e.tr {
		for range t.conns {
			senders.Go(func() { e.sendLoop(ctx, sendCtx, i, t, jobs, results) })
		}
	}
	renewDone := make(chan struct{})
	go func() { defer close(renewDone); e.renewLoop(ctx) }()

	e.claimLoop(ctx, jobs, results)

	senders.Wait()
	// Hand back what was claimed but not sent.
	for {
		select {
		case it := <-jobs:
			results <- result{delivery: it.delivery, kind: resRelease}
			continue
		default:
		}
		break
	}
	close(results)
	<-recDone
	<-renewDone
	e.mu.Lock()
	clear(e.runs)
	e.mu.Unlock()
	return nil
}

// renewLoop extends this instance's leases while it holds them, so a claim
// waiting behind a backed-off server is not taken by another instance.
func (e *Engine) renewLoop(ctx context.Context) {
	tk := time.NewTicker(e.cfg.Lease / 3)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		if e.inflight.Load() == 0 {
			continue
		}
		err := e.db.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE deliveries SET lease_until = ?
				WHERE campaign_id IN (SELECT id FROM campaigns WHERE status IN ('running', 'paused'))
				AND status = 'sending' AND lease_owner = ?`,
				e.now().Add(e.cfg.Lease).Unix(), e.cfg.Owner)
			return err
		})
		if err != nil && ctx.Err() == nil {
			e.log.Error("renew delivery leases", "err", err)
		}
	}
}

func (e *Engine) sendLoop(ctx, sendCtx context.Context, idx int, t *transport, jobs <-chan *item, results chan<- result) {
	for {
		if !t.waitUp(ctx) {
			return
		}
		var it *item
		select {
		case <-ctx.Done():
			return
		case it = <-jobs:
		}
		results <- e.deliver(sendCtx, idx, t, it)
	}
}

// deliver renders and sends one delivery and says what became of it.
func (e *Engine) deliver(ctx context.Context, idx int, t *transport, it *item) result {
	res := result{delivery: it.delivery, attempts: it.attempts}
	if it.run.stopped.Load() {
		res.kind = resRelease // paused or cancelled: leave it for later (or for Cancel)
		return res
	}
	m, err := e.message(it.run.template(it.variant), it.run, &it.rcpt, "")
	if err != nil {
		res.kind, res.reply = resFailed, "render: "+err.Error()
		return res
	}
	if it.run.links != nil {
		m.HTML, m.Text, err = it.run.links.Rewrite(ctx, nil, m.HTML, m.Text,
			tracking.Recipient{SubscriberID: it.rcpt.ID, Tracking: it.rcpt.Tracking, SentAt: e.now()})
		m.UnsubscribeURL = it.run.links.UnsubscribeURL(m.UnsubscribeURL)
		if err != nil {
			// The database did not take a new link (or we are stopping):
			// not this recipient's fault, so later, like a busy server.
			res.kind, res.reply = resRetry, "tracking: "+err.Error()
			if ctx.Err() != nil {
				res.kind = resRelease
			}
			return res
		}
	}
	if e.cfg.ReturnPath != nil {
		m.ReturnPath = e.cfg.ReturnPath(it.run.id, it.delivery, it.rcpt.ID)
	}
	err = t.Send(ctx, m)
	switch {
	case err == nil:
		t.ok()
		res.kind = resSent
	case isTemporary(err):
		t.fail(&e.cfg, e.log, idx)
		res.kind, res.reply = resRetry, reply(err)
	default:
		// A permanent refusal is about this recipient; the server is answering.
		t.ok()
		res.kind, res.reply = resFailed, reply(err)
		var se *mailer.SendError
		if errors.As(err, &se) && se.Code >= 500 {
			res.refused = &Refusal{CampaignID: it.run.id, DeliveryID: it.delivery, SubscriberID: it.rcpt.ID,
				Code: se.Code, Reply: se.Reply}
		}
	}
	return res
}
