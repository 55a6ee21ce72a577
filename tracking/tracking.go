package tracking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// DefaultUTM is the query added to every tracked link's target; {slug} is
// the campaign's (or flow's) slug, {id} the campaign id.
const DefaultUTM = "utm_source=treu&utm_medium=email&utm_campaign={slug}"

// Config is the tracking settings. Zero durations take the defaults shown.
type Config struct {
	// BaseURL of the instance: links are BaseURL/l/TOKEN and BaseURL/o/TOKEN,
	// and links under it (unsubscribe, preferences, confirm) are never rewritten.
	BaseURL string
	// Secret signs the tokens (a key is derived from it).
	Secret []byte
	// UTM is added to each target (DefaultUTM in cmd/treu); "" adds none.
	UTM string
	// AttributionWindow (5 days): an order this long after a click or open is
	// credited to that mail.
	AttributionWindow time.Duration
	// MachineOpen (10s): an open this soon after sending is a mail client's
	// proxy fetching the mail on delivery (Apple Mail Privacy Protection), not
	// a person; from Apple's proxy range (17.0.0.0/8) MachineOpenApple (2m).
	MachineOpen      time.Duration
	MachineOpenApple time.Duration
	// ScannerWindow (1s): clicks by one clicker on two or more links of a mail
	// within it are a link scanner's.
	ScannerWindow time.Duration
	// Now is the clock (default the store's).
	Now func() time.Time
	// OnClick, if set, hears of each click by a person inside the
	// transaction that records it (cmd/treu: the link.clicked webhook). The
	// click may yet turn out to be a link scanner's until Click.Settled;
	// then OnScanner is called, in that later click's transaction, with the
	// ids of the clicks to call off.
	OnClick   func(ctx context.Context, tx *store.Tx, c Click) error
	OnScanner func(ctx context.Context, tx *store.Tx, clickIDs []int64) error
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.AttributionWindow, 5*24*time.Hour)
	def(&c.MachineOpen, 10*time.Second)
	def(&c.MachineOpenApple, 2*time.Minute)
	def(&c.ScannerWindow, time.Second)
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
}

// Consent tells whether a subscriber allows per-person tracking now
// (*subscribers.Service). A withdrawn consent stops tracking at once, even
// for mails sent before.
type Consent interface {
	TrackingAllowed(ctx context.Context, subscriberID int64) (bool, error)
}

// Service rewrites links, records clicks and opens, and reports them.
type Service struct {
	db      *store.DB
	cfg     Config
	codec   *codec
	consent Consent
	log     *slog.Logger

	mu    sync.Mutex
	mails map[string]*Links // per-mail rewriters with their link caches

	targets targetCache
	hits    *store.GroupCommit[*hit]
	recent  recentClicks
}

// New makes the service. consent may be nil (nobody is tracked per person).
func New(db *store.DB, cfg Config, consent Consent, log *slog.Logger) *Service {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{db: db, cfg: cfg, codec: newCodec(cfg.Secret), consent: consent, log: log,
		mails: map[string]*Links{}}
	s.targets.m = map[int64]link{}
	s.recent.m = map[recentKey][]recentClick{}
	// Clicks and opens are durable before the redirect (or the pixel) is
	// answered; concurrent ones share a transaction.
	s.hits = store.NewGroupCommit(db, 256, s.applyHit, nil)
	if err := db.Prepare(context.Background(), insertOpen, insertClick); err != nil {
		log.Warn("tracking: prepare; statements will be parsed per click", "err", err)
	}
	return s
}

func (s *Service) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return s.db.Now()
}

// Mail names a mail whose links are tracked.
type Mail struct {
	Key  string // "campaign:ID" or "flow:SLUG:STEP"
	Slug string // utm_campaign
	ID   int64  // the campaign id ({id} in the UTM query); 0 for flows
	UTM  bool   // add the UTM query to the targets
}

// CampaignMail names campaign id; its UTM slug comes from the name.
func CampaignMail(id int64, name string, utm bool) Mail {
	slug := Slugify(name)
	if slug == "" {
		slug = "campaign-" + strconv.FormatInt(id, 10)
	}
	return Mail{Key: CampaignKey(id), Slug: slug, ID: id, UTM: utm}
}

// CampaignKey is the mail key of campaign id.
func CampaignKey(id int64) string { return "campaign:" + strconv.FormatInt(id, 10) }

// FlowMail names step (0-based) of flow slug.
func FlowMail(slug string, step int) Mail {
	return Mail{Key: "flow:" + slug + ":" + strconv.Itoa(step), Slug: slug, UTM: true}
}

// Slugify makes a UTM value of a name: lower-case ASCII letters and digits,
// runs of anything else as one "-"; German umlauts spelt out.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch r {
		case 'ä':
			b.WriteString("ae")
		case 'ö':
			b.WriteString("oe")
		case 'ü':
			b.WriteString("ue")
		case 'ß':
			b.WriteString("ss")
		default:
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				b.WriteRune(r)
			} else {
				if b.Len() > 0 && !dash {
					b.WriteByte('-')
				}
				dash = true
				continue
			}
		}
		dash = false
		if b.Len() >= 60 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

// link is a stored link.
type link struct {
	id     int64
	mail   string
	url    string
	target string
}

// targetCache keeps the links the redirect handler served: links never
// change, so a click costs no read after the first one of its link.
type targetCache struct {
	mu sync.RWMutex
	m  map[int64]link
}

const maxCachedTargets = 100_000

func (c *targetCache) get(id int64) (link, bool) {
	c.mu.RLock()
	l, ok := c.m[id]
	c.mu.RUnlock()
	return l, ok
}

func (c *targetCache) put(l link) {
	c.mu.Lock()
	if len(c.m) >= maxCachedTargets {
		clear(c.m) // crude, and rare: the next clicks read again
	}
	c.m[l.id] = l
	c.mu.Unlock()
}

// lookup finds the link a token names.
func (s *Service) lookup(ctx context.Context, id int64) (link, error) {
	if l, ok := s.targets.get(id); ok {
		return l, nil
	}
	l := link{id: id}
	err := s.db.QueryRowContext(ctx, `SELECT mail, url, target FROM links WHERE id = ?`, id).Scan(&l.mail, &l.url, &l.target)
	if errors.Is(err, sql.ErrNoRows) {
		return link{}, notFound()
	}
	if err != nil {
		return link{}, fmt.Errorf("tracking: link %d: %w", id, err)
	}
	s.targets.put(l)
	return l, nil
}

func notFound() error { return errs.NotFoundf("this link is not valid") }
