// Package webhooks tells the shop what happened: a subscriber confirmed,
// unsubscribed, bounced or complained, a campaign finished, a flow reached
// a webhook step (flow.webhook). The shop
// registers endpoints (POST /api/webhooks); every event is a delivery row,
// written in the transaction of the change that causes it, and sent from
// that durable queue with retries and backoff, so a receiver that is down
// for hours loses nothing. Deliveries of one subscriber go out in order.
//
// Signed per the Standard Webhooks spec: headers webhook-id (the same on
// every retry), webhook-timestamp and webhook-signature
// "v1,BASE64(HMAC-SHA256(secret, id.timestamp.body))". Never sent to
// loopback, private or link-local addresses unless Config.AllowPrivate
// (checked at connect time, so a DNS answer cannot sneak one in).
//
// A click (link.clicked, clicks.go) is held back for the scanner window
// (its delivery is due only then, and names the click in ref): when a second
// click shows the clicker was a link scanner, Withdraw drops it before it
// goes out.
//
// Tables written: webhooks, webhook_deliveries (store/migrations/0007_feedback.sql,
// ref in 0018_click_events.sql).
package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Event types.
const (
	SubscriberConfirmed    = "subscriber.confirmed"
	SubscriberUnsubscribed = "subscriber.unsubscribed"
	SubscriberBounced      = "subscriber.bounced"
	SubscriberComplained   = "subscriber.complained"
	CampaignFinished       = "campaign.finished"
	// LinkClicked: a person (not a link scanner) clicked a tracked link of
	// a campaign or flow mail. The subscriber's address only with their
	// tracking consent (package tracking decides).
	LinkClicked = "link.clicked"
	// FlowWebhook is queued by a flow's webhook step (package flows):
	// {"flow", "step", "subscriber_id", "email", "event"?}.
	FlowWebhook = "flow.webhook"
)

// Types are the event types an endpoint may ask for.
var Types = []string{SubscriberConfirmed, SubscriberUnsubscribed, SubscriberBounced, SubscriberComplained, CampaignFinished, LinkClicked, FlowWebhook}

// Config tunes delivery; zero values take the defaults.
type Config struct {
	AllowPrivate bool          // --webhook-allow-private: loopback and private networks too
	Timeout      time.Duration // per request; default 10s
	MaxAttempts  int           // default 15 (about a day and a half of backoff)
	Lease        time.Duration // default 1m
	Owner        string        // this instance in lease_owner
}

// Service owns the endpoints and the delivery queue.
type Service struct {
	db   *store.DB
	cfg  Config
	log  *slog.Logger
	http httpDoer
	wake chan struct{}
	// Now is the clock for claims and backoff (default the store's).
	Now func() time.Time
}

// New returns the service.
func New(db *store.DB, cfg Config, log *slog.Logger) *Service {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 15
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Owner == "" {
		cfg.Owner = "webhooks-" + rand.Text()[:8]
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := db.Prepare(context.Background(), selectSubscribed, insertDelivery); err != nil {
		log.Warn("webhooks: prepare; statements will be parsed per event", "err", err)
	}
	return &Service{db: db, cfg: cfg, log: log, http: newClient(cfg), wake: make(chan struct{}, 1), Now: db.Now}
}

// Endpoint is one registered webhook.
type Endpoint struct {
	ID        int64     `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret,omitempty"` // shown once, when created
	CreatedAt time.Time `json:"created_at"`
}

// Input is the body of POST /api/webhooks.
type Input struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// blocked reports whether an address is one Treu must not call unless
// private targets are allowed.
func blocked(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(ip) // carrier-grade NAT
}

func (s *Service) validate(in Input) (Input, error) {
	u, err := url.Parse(strings.TrimSpace(in.URL))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || len(in.URL) > 2000 {
		return in, errs.Invalidf("url", "url must be an absolute http(s) URL without credentials")
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && blocked(ip) && !s.cfg.AllowPrivate {
		return in, errs.Invalidf("url", "url points at a private or loopback address (see --webhook-allow-private)")
	}
	if h := strings.ToLower(u.Hostname()); (h == "localhost" || strings.HasSuffix(h, ".localhost")) && !s.cfg.AllowPrivate {
		return in, errs.Invalidf("url", "url points at a private or loopback address (see --webhook-allow-private)")
	}
	in.URL = u.String()
	if len(in.Events) == 0 {
		return in, errs.Invalidf("events", "events must name at least one of %s", strings.Join(Types, ", "))
	}
	seen := map[string]bool{}
	var evs []string
	for _, e := range in.Events {
		if !slices.Contains(Types, e) {
			return in, errs.Invalidf("events", "unknown event %q; known: %s", e, strings.Join(Types, ", "))
		}
		if !seen[e] {
			seen[e] = true
			evs = append(evs, e)
		}
	}
	in.Events = evs
	return in, nil
}

// Create registers an endpoint and returns it with its secret (the only
// time the secret is shown).
func (s *Service) Create(ctx context.Context, in Input) (Endpoint, error) {
	in, err := s.validate(in)
	if err != nil {
		return Endpoint{}, err
	}
	var key [32]byte
	rand.Read(key[:])
	ep := Endpoint{URL: in.URL, Events: in.Events, Secret: "whsec_" + base64.StdEncoding.EncodeToString(key[:])}
	evs, _ := json.Marshal(in.Events)
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		ep.CreatedAt = tx.Now.Truncate(time.Second)
		return tx.QueryRowContext(ctx, `INSERT INTO webhooks (url, events, secret, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
			ep.URL, string(evs), ep.Secret, tx.Now.Unix()).Scan(&ep.ID)
	})
	if err != nil {
		return Endpoint{}, fmt.Errorf("webhooks: create: %w", err)
	}
	return ep, nil
}

// List returns the endpoints, without their secrets.
func (s *Service) List(ctx context.Context) ([]Endpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, url, events, created_at FROM webhooks ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("webhooks: list: %w", err)
	}
	defer rows.Close()
	out := []Endpoint{}
	for rows.Next() {
		var ep Endpoint
		var evs string
		var at int64
		if err := rows.Scan(&ep.ID, &ep.URL, &evs, &at); err != nil {
			return nil, fmt.Errorf("webhooks: list: %w", err)
		}
		json.Unmarshal([]byte(evs), &ep.Events)
		ep.CreatedAt = time.Unix(at, 0).UTC()
		out = append(out, ep)
	}
	return out, rows.Err()
}

// Delete removes an endpoint and its queued deliveries.
func (s *Service) Delete(ctx context.Context, id int64) error {
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("webhooks: delete %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.NotFoundf("no webhook %d", id)
		}
		return nil
	})
}

// Emit queues event typ with data for every endpoint that asked for it,
// inside tx: the event is durable exactly when the change causing it is.
// orderingKey (e.g. "subscriber:42") keeps one subject's events in order.
func (s *Service) Emit(ctx context.Context, tx *store.Tx, typ, orderingKey string, data any) error {
	return s.emit(ctx, tx, typ, orderingKey, "", tx.Now, data)
}

// Withdraw drops the deliveries of held events (Clicks.Clicked) named by
// refs that have not gone out yet, inside tx. One already sent stays sent.
func (s *Service) Withdraw(ctx context.Context, tx *store.Tx, refs []string) error {
	if len(refs) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries
		WHERE ref IN (SELECT value FROM json_each(?)) AND status = 'pending' AND attempts = 0`, store.JSONStrings(refs)); err != nil {
		return fmt.Errorf("webhooks: withdraw %d events: %w", len(refs), err)
	}
	return nil
}

// selectSubscribed finds the endpoints that asked for an event type; every
// click runs it, so it is prepared once (store's cache).
const selectSubscribed = `SELECT id FROM webhooks WHERE EXISTS (SELECT 1 FROM json_each(events) WHERE value = ?)`

const insertDelivery = `INSERT INTO webhook_deliveries
	(webhook_id, message_id, type, ordering_key, ref, payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// endpoints are the ids of the endpoints that asked for typ.
func (s *Service) endpoints(ctx context.Context, tx *store.Tx, typ string) ([]int64, error) {
	rows, err := tx.QueryCached(ctx, selectSubscribed, typ)
	if err != nil {
		return nil, fmt.Errorf("webhooks: endpoints for %s: %w", typ, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("webhooks: endpoints for %s: %w", typ, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (s *Service) emit(ctx context.Context, tx *store.Tx, typ, orderingKey, ref string, notBefore time.Time, data any) error {
	ids, err := s.endpoints(ctx, tx, typ)
	if err != nil || len(ids) == 0 {
		return err
	}
	return s.queue(ctx, tx, ids, typ, orderingKey, ref, notBefore, data)
}

// queue writes one delivery of the event per endpoint in ids.
func (s *Service) queue(ctx context.Context, tx *store.Tx, ids []int64, typ, orderingKey, ref string, notBefore time.Time, data any) error {
	body, err := json.Marshal(map[string]any{"type": typ, "timestamp": tx.Now.Format(time.RFC3339), "data": data})
	if err != nil {
		return fmt.Errorf("webhooks: emit %s: %w", typ, err)
	}
	var nullRef any
	if ref != "" {
		nullRef = ref
	}
	// Whole seconds, rounded up: a held event never goes out early.
	due := notBefore.Unix()
	if notBefore.After(time.Unix(due, 0)) {
		due++
	}
	for _, id := range ids {
		if _, err := tx.ExecCached(ctx, insertDelivery,
			id, "msg_"+rand.Text(), typ, orderingKey, nullRef, string(body), due, tx.Now.Unix()); err != nil {
			return fmt.Errorf("webhooks: emit %s: %w", typ, err)
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Sign is the Standard Webhooks signature header value for one delivery.
func Sign(secret, msgID string, ts int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "", errors.New("webhooks: secret is not base64")
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", msgID, ts)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Delivery is one queued or sent event, for the API and the UI.
type Delivery struct {
	ID         int64      `json:"id"`
	MessageID  string     `json:"message_id"`
	Type       string     `json:"type"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	LastStatus *int       `json:"last_status,omitempty"`
	LastError  string     `json:"last_error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	SentAt     *time.Time `json:"sent_at,omitempty"`
}

// Recent lists endpoint id's latest deliveries, newest first (at most 100).
func (s *Service) Recent(ctx context.Context, id int64) ([]Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, message_id, type, status, attempts, last_status, last_error, created_at, sent_at
		FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT 100`, id)
	if err != nil {
		return nil, fmt.Errorf("webhooks: deliveries of %d: %w", id, err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		var code, sent sql.NullInt64
		var at int64
		if err := rows.Scan(&d.ID, &d.MessageID, &d.Type, &d.Status, &d.Attempts, &code, &d.LastError, &at, &sent); err != nil {
			return nil, fmt.Errorf("webhooks: deliveries of %d: %w", id, err)
		}
		if code.Valid {
			c := int(code.Int64)
			d.LastStatus = &c
		}
		d.CreatedAt = time.Unix(at, 0).UTC()
		if sent.Valid {
			t := time.Unix(sent.Int64, 0).UTC()
			d.SentAt = &t
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// dialControl refuses private targets at connect time, after DNS.
func dialControl(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		if blocked(ap.Addr()) {
			return fmt.Errorf("webhooks: %s is a private or loopback address", ap.Addr())
		}
		return nil
	}
}

// DeleteForSubscriber erases what the queue holds about subscriber id (its
// events carry the address) inside the erasure's transaction; events not
// yet delivered go too: the person asked to be forgotten.
func (s *Service) DeleteForSubscriber(ctx context.Context, tx *store.Tx, id int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE ordering_key = ?`, fmt.Sprintf("subscriber:%d", id)); err != nil {
		return fmt.Errorf("webhooks: erase subscriber %d: %w", id, err)
	}
	return nil
}

// Prune deletes deliveries that ended (sent or given up) before cutoff.
func (s *Service) Prune(ctx context.Context, cutoff time.Time) error {
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < ?`, cutoff.Unix()); err != nil {
			return fmt.Errorf("webhooks: prune: %w", err)
		}
		return nil
	})
}
