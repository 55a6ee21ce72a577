package subscribers

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/treu-mail/treu/store"
)

// Subscriber statuses (subscribers.status).
const (
	StatusPending      = "pending"
	StatusActive       = "active"
	StatusUnsubscribed = "unsubscribed"
)

// Consent channels recorded in consents.channel. Meta.Channel takes one of these.
const (
	ChannelAPI         = "api"         // the shop's REST call
	ChannelForm        = "form"        // the public /subscribe form
	ChannelLink        = "link"        // the confirmation link
	ChannelOneClick    = "one_click"   // RFC 8058 POST from a mail client
	ChannelPage        = "page"        // the button on the unsubscribe page
	ChannelPreferences = "preferences" // the preferences page
	ChannelAdmin       = "admin"       // the marketers' UI
)

// Consent actions recorded in consents.action.
const (
	ActionSignup           = "signup"
	ActionConfirmationSent = "confirmation_sent"
	ActionConfirmed        = "confirmed"
	ActionImported         = "imported"
	ActionPreferences      = "preferences"
	ActionUnsubscribed     = "unsubscribed"
	ActionResubscribed     = "resubscribed"
	// ActionExistingCustomer: enrolled as an existing customer (UWG § 7 (3));
	// the consent text is the notice the customer was given at the sale, the
	// detail names the sale (order_id=).
	ActionExistingCustomer = "existing_customer"
)

// Limits of the pending state: German courts and the GDPR want unconfirmed
// addresses gone soon; a week is usual, two weeks the most we allow.
const (
	DefaultPendingTTL    = 7 * 24 * time.Hour
	MaxPendingTTL        = 14 * 24 * time.Hour
	DefaultConfirmResend = 10 * time.Minute
)

// Queue is what this package needs of the mailer's durable queue: a mail
// enqueued inside the caller's transaction is durable when it commits.
type Queue interface {
	Enqueue(ctx context.Context, tx *store.Tx, m *Message) (int64, error)
}

// Eraser deletes what another package keeps about a subscriber (queued mails,
// flow runs...) inside the erasure's transaction. *mailer.Queue is one.
type Eraser interface {
	DeleteForSubscriber(ctx context.Context, tx *store.Tx, subscriberID int64) error
}

// AddressEraser is an Eraser whose rows can carry the address without the
// subscriber's id (mail to it before it subscribed, shop events before it was
// linked, an SMTP reply quoting it). Erase calls EraseAddress instead of
// DeleteForSubscriber; emailKey is the lower-cased address.
type AddressEraser interface {
	EraseAddress(ctx context.Context, tx *store.Tx, subscriberID int64, emailKey string) error
}

// MarketingDropper is an Eraser that can also withdraw a subscriber's queued
// marketing mail when they unsubscribe. *mailer.Queue is one.
type MarketingDropper interface {
	DropMarketing(ctx context.Context, tx *store.Tx, subscriberID int64) error
}

// Footer is what every mail to a customer ends with (§5 DDG: the Impressum inline).
type Footer struct {
	ShopName  string
	Impressum string // multi-line postal address, register, VAT id...
}

// Config is the service's wiring. BaseURL, From and Secret are required.
type Config struct {
	BaseURL  string // e.g. https://news.shop.example, no trailing slash needed
	From     string // sender address of confirmation and welcome mails
	FromName string
	ReplyTo  string
	ShopName string
	Footer   Footer
	// Secret signs customer links (HMAC-SHA256); at least 16 bytes, 32 random
	// bytes recommended. Changing it invalidates every link already mailed.
	Secret []byte
	// PendingTTL: an unconfirmed subscriber is deleted this long after the last
	// confirmation mail, and confirmation links expire with it. Default 7 days, max 14.
	PendingTTL time.Duration
	// ConfirmResend: a re-enrollment queues a new confirmation mail only if the
	// last one is older than this. Default 10 minutes.
	ConfirmResend time.Duration
	// ListIDDomain makes List-Id headers: "<slug>.<ListIDDomain>". Default: BaseURL's host.
	ListIDDomain string
	// Erasers run inside Erase and PurgePending before the subscriber row goes
	// (the mailer's queue; later flows, events).
	Erasers []Eraser
	// SystemMail renders the confirm and welcome mails; nil uses the built-in texts.
	SystemMail SystemMailFunc
}

// AddErasers adds erasers after New, for packages built after the service
// (campaigns needs the service for its links). Call it before serving.
func (s *Service) AddErasers(e ...Eraser) { s.cfg.Erasers = append(s.cfg.Erasers, e...) }

// Service owns subscribers, lists, subscriptions, consents and suppressions.
type Service struct {
	db    *store.DB
	q     Queue
	cfg   Config
	log   *slog.Logger
	links *linkSigner

	// OnActivated runs inside the transaction that makes a subscriber active by
	// confirming (not by import). The default queues the welcome mail; the flows
	// package replaces it to start the welcome flow. Set it before serving.
	OnActivated func(ctx context.Context, tx *store.Tx, s Subscriber) error
	// OnUnsubscribed, if set, runs inside the transaction that takes a
	// subscriber off every list (a link, the preferences page, a complaint):
	// the shop's webhooks hear of it.
	OnUnsubscribed func(ctx context.Context, tx *store.Tx, id int64, channel string) error

	// confirmMail holds the confirmation mail per locale, rendered once with a
	// placeholder for the link: enrollment only substitutes the link.
	confirmMail map[string]Rendered

	group *store.GroupCommit[*enrollJob] // enrollments in shared transactions

	listMu  sync.RWMutex
	listIDs map[string]int64 // slug -> id; lists are never renamed or deleted through Treu
}

// New checks cfg and returns the service.
func New(db *store.DB, q Queue, cfg Config, log *slog.Logger) (*Service, error) {
	if log == nil {
		return nil, errors.New("subscribers: nil logger")
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("subscribers: Config.Secret must hold at least 16 bytes")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("subscribers: Config.BaseURL %q must be an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.From == "" {
		return nil, errors.New("subscribers: Config.From is required")
	}
	switch {
	case cfg.PendingTTL == 0:
		cfg.PendingTTL = DefaultPendingTTL
	case cfg.PendingTTL < time.Minute || cfg.PendingTTL > MaxPendingTTL:
		return nil, fmt.Errorf("subscribers: PendingTTL %s outside 1m..%s", cfg.PendingTTL, MaxPendingTTL)
	}
	if cfg.ConfirmResend <= 0 {
		cfg.ConfirmResend = DefaultConfirmResend
	}
	if cfg.ListIDDomain == "" {
		cfg.ListIDDomain = u.Hostname()
	}
	if cfg.ShopName == "" {
		cfg.ShopName = cfg.Footer.ShopName
	}
	if cfg.Footer.ShopName == "" {
		cfg.Footer.ShopName = cfg.ShopName
	}
	if cfg.SystemMail == nil {
		cfg.SystemMail = builtinSystemMail
	}
	s := &Service{
		db:      db,
		q:       q,
		cfg:     cfg,
		log:     log,
		links:   newLinkSigner(cfg.Secret),
		listIDs: map[string]int64{},
	}
	s.group = store.NewGroupCommit(db, 64, s.enrollJob, s.wakeQueue)
	s.OnActivated = s.queueWelcome
	if err := s.prepare(context.Background()); err != nil {
		return nil, err
	}
	s.confirmMail = map[string]Rendered{}
	for _, loc := range []string{"de", "en"} {
		r, err := cfg.SystemMail("confirm", loc, s.mailVars(loc, linkPlaceholder))
		if err != nil {
			return nil, fmt.Errorf("subscribers: render confirm mail (%s): %w", loc, err)
		}
		if !strings.Contains(r.Text, linkPlaceholder) {
			return nil, fmt.Errorf("subscribers: confirm mail (%s) lacks the confirmation link", loc)
		}
		s.confirmMail[loc] = r
	}
	return s, nil
}

// ShopName is the shop's name as configured, for pages and consent texts.
func (s *Service) ShopName() string { return s.cfg.ShopName }

// PendingTTL is how long a confirmation link stays valid.
func (s *Service) PendingTTL() time.Duration { return s.cfg.PendingTTL }

// Subscriber is one person as the API shows it (API.md).
type Subscriber struct {
	ID          int64           `json:"id"`
	Email       string          `json:"email"`
	Name        string          `json:"name"`
	Locale      string          `json:"locale"`
	Status      string          `json:"status"`
	Attributes  json.RawMessage `json:"attributes"`
	Lists       []Membership    `json:"lists"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	ConfirmedAt *time.Time      `json:"confirmed_at,omitempty"`
	// Tracking: consented to per-person opens and clicks (tracking.go).
	Tracking bool `json:"tracking"`
	// LegalBasis of marketing mail: BasisConsent or BasisExistingCustomer.
	LegalBasis string    `json:"legal_basis"`
	Consents   []Consent `json:"consents,omitempty"`
}

// Membership is one list of a subscriber. Status pending: asked for under
// double opt-in and not confirmed yet; only active receives mail.
type Membership struct {
	Slug   string `json:"slug"`
	Status string `json:"status"`
}

// Consent is one row of the append-only consent log.
type Consent struct {
	Action      string    `json:"action"`
	Channel     string    `json:"channel"`
	Source      string    `json:"source,omitempty"`
	Text        string    `json:"text,omitempty"`
	TextVersion string    `json:"text_version,omitempty"`
	IP          string    `json:"ip,omitempty"`
	UserAgent   string    `json:"user_agent,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	At          time.Time `json:"at"`
}

// Meta is who is acting: the request's IP and user agent and the channel.
type Meta struct {
	IP        string
	UserAgent string
	Channel   string
}

// textVersion names a consent text's wording: the first 16 hex digits of its sha256.
func textVersion(text string) string {
	if text == "" {
		return ""
	}
	h := sha256.Sum256([]byte(text))
	return fmt.Sprintf("%x", h[:8])
}

func unixTime(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := unixTime(v.Int64)
	return &t
}
