package tracking

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Hit is the request behind a click or an open: what tells a person from a
// machine. Neither is stored.
type Hit struct {
	IP        string
	UserAgent string
}

// hit is a click or an open on its way into the database.
type hit struct {
	open    bool
	link    link
	sub     int64 // 0: anonymous
	sent    time.Time
	at      time.Time
	machine bool   // opens: decided before writing
	clicker string // clicks: who clicked, for the scanner check (memory only)
}

// Click records a click on the link tok names and returns its target. A
// token that is not ours, or names no link, is an errs.NotFound: the
// redirect never goes anywhere a mail did not link to. The click is durable
// when Click returns.
func (s *Service) Click(ctx context.Context, tok string, h Hit) (string, error) {
	t, ok := s.codec.open(tok)
	if !ok {
		return "", notFound()
	}
	l, err := s.lookup(ctx, t.link)
	if err != nil {
		return "", err
	}
	if l.url == "" {
		return "", notFound() // the open pixel is not a link
	}
	sub := s.allowed(ctx, t.sub)
	clicker := "s" + strconv.FormatInt(sub, 10)
	if sub == 0 {
		// Anonymous: the scanner check still needs to know that two clicks
		// came from one place. A hash, kept in memory for a second.
		sum := sha256.Sum256([]byte(h.IP + "\x00" + h.UserAgent))
		clicker = "a" + hex.EncodeToString(sum[:8])
	}
	x := &hit{link: l, sub: sub, at: s.now(), clicker: clicker}
	if sub != 0 {
		x.sent = t.sent
	}
	if err := s.hits.Do(ctx, x); err != nil {
		return "", err
	}
	return l.target, nil
}

// Open records a fetch of the open pixel tok names. A token that is not an
// open pixel's is an errs.NotFound; a subscriber who withdrew tracking
// consent since is not recorded (and gets the pixel all the same).
func (s *Service) Open(ctx context.Context, tok string, h Hit) error {
	t, ok := s.codec.open(tok)
	if !ok || t.sub == 0 {
		return notFound()
	}
	l, err := s.lookup(ctx, t.link)
	if err != nil {
		return err
	}
	if l.url != "" {
		return notFound()
	}
	sub := s.allowed(ctx, t.sub)
	if sub == 0 {
		return nil
	}
	x := &hit{open: true, link: l, sub: sub, sent: t.sent, at: s.now()}
	x.machine = s.machineOpen(x.at.Sub(t.sent), h.IP)
	return s.hits.Do(ctx, x)
}

// appleProxy is where Apple Mail Privacy Protection fetches mail from.
var appleProxy = netip.MustParsePrefix("17.0.0.0/8")

// machineOpen: a fetch right after sending is a client's proxy loading the
// mail on delivery, not a person reading it.
func (s *Service) machineOpen(since time.Duration, ip string) bool {
	if since <= s.cfg.MachineOpen {
		return true
	}
	if a, err := netip.ParseAddr(ip); err == nil && appleProxy.Contains(a.Unmap()) {
		return since <= s.cfg.MachineOpenApple
	}
	return false
}

// allowed returns sub when that subscriber allows tracking now, else 0.
func (s *Service) allowed(ctx context.Context, sub int64) int64 {
	if sub == 0 || s.consent == nil {
		return 0
	}
	ok, err := s.consent.TrackingAllowed(ctx, sub)
	if err != nil {
		s.log.WarnContext(ctx, "tracking consent look-up failed; counted anonymously", "subscriber_id", sub, "err", err)
		return 0
	}
	if !ok {
		return 0
	}
	return sub
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// The statements every click and open runs, prepared once (store's cache).
const (
	insertOpen  = `INSERT INTO opens (mail, subscriber_id, machine, sent_at, at) VALUES (?, ?, ?, ?, ?)`
	insertClick = `INSERT INTO clicks (link_id, mail, subscriber_id, sent_at, at) VALUES (?, ?, ?, ?, ?) RETURNING id`
)

// applyHit writes one click or open in a group commit's transaction.
func (s *Service) applyHit(ctx context.Context, tx *store.Tx, x *hit) error {
	if x.open {
		if _, err := tx.ExecCached(ctx, insertOpen,
			x.link.mail, x.sub, x.machine, x.sent.Unix(), x.at.Unix()); err != nil {
			return fmt.Errorf("tracking: record an open of %s: %w", x.link.mail, err)
		}
		return nil
	}
	var id int64
	if err := tx.QueryRowCached(ctx, insertClick,
		x.link.id, x.link.mail, nullID(x.sub), nullTime(x.sent), x.at.Unix()).Scan(&id); err != nil {
		return fmt.Errorf("tracking: record a click on %s: %w", x.link.mail, err)
	}
	machine := s.recent.add(recentKey{x.link.mail, x.clicker}, recentClick{id: id, link: x.link.id, at: x.at}, s.cfg.ScannerWindow)
	if len(machine) > 0 {
		ids, _ := json.Marshal(machine)
		if _, err := tx.ExecContext(ctx, `UPDATE clicks SET machine = 1 WHERE id IN (SELECT value FROM json_each(?))`, string(ids)); err != nil {
			return fmt.Errorf("tracking: mark scanner clicks on %s: %w", x.link.mail, err)
		}
	}
	return s.told(ctx, tx, x, id, machine)
}

// Click is a click by a person, as OnClick hears of it.
type Click struct {
	ID   int64
	URL  string // the link as the mail had it (without the UTM query)
	Mail string // the mail key: "campaign:ID" or "flow:SLUG:STEP"
	// What the mail key names: a campaign, or a flow's step (0-based).
	CampaignID int64
	Flow       string
	Step       int
	// SubscriberID only with the person's tracking consent; 0 otherwise.
	SubscriberID int64
	At           time.Time
	// Settled is when the click can no longer turn out to be a link
	// scanner's (At + ScannerWindow).
	Settled time.Time
}

// told passes a click to OnClick unless it is a scanner's already, and the
// clicks it showed to be a scanner's to OnScanner.
func (s *Service) told(ctx context.Context, tx *store.Tx, x *hit, id int64, machine []int64) error {
	var earlier []int64
	self := false
	for _, m := range machine {
		if m == id {
			self = true
		} else {
			earlier = append(earlier, m)
		}
	}
	if s.cfg.OnScanner != nil && len(earlier) > 0 {
		if err := s.cfg.OnScanner(ctx, tx, earlier); err != nil {
			return err
		}
	}
	if s.cfg.OnClick == nil || self {
		return nil
	}
	c := Click{ID: id, URL: x.link.url, Mail: x.link.mail, SubscriberID: x.sub, At: x.at, Settled: x.at.Add(s.cfg.ScannerWindow)}
	c.CampaignID, c.Flow, c.Step = ParseMailKey(x.link.mail)
	return s.cfg.OnClick(ctx, tx, c)
}

// ParseMailKey reads a mail key: a campaign's id, or a flow's slug and step
// (0-based). A key of neither form gives zeros.
func ParseMailKey(key string) (campaignID int64, flow string, step int) {
	if rest, ok := strings.CutPrefix(key, "campaign:"); ok {
		if id, err := strconv.ParseInt(rest, 10, 64); err == nil && id > 0 {
			return id, "", 0
		}
		return 0, "", 0
	}
	if rest, ok := strings.CutPrefix(key, "flow:"); ok {
		i := strings.LastIndexByte(rest, ':')
		if i > 0 {
			if n, err := strconv.Atoi(rest[i+1:]); err == nil && n >= 0 {
				return 0, rest[:i], n
			}
		}
	}
	return 0, "", 0
}

// recentClicks remembers each clicker's clicks of the last ScannerWindow per
// mail: a person does not open two links of a mail within a second, a link
// scanner (a mail gateway checking every link on delivery) does. It lives in
// memory only; instances sharing a database each see their own clicks.
type recentClicks struct {
	mu   sync.Mutex
	m    map[recentKey][]recentClick
	seen int
}

type recentKey struct{ mail, clicker string }

type recentClick struct {
	id, link int64
	at       time.Time
	marked   bool
}

// add records a click and returns the ids of the clicks to mark as a
// machine's: all within the window, once two distinct links are among them.
func (r *recentClicks) add(k recentKey, c recentClick, window time.Duration) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen++; r.seen%1024 == 0 {
		for key, cs := range r.m {
			if len(cs) == 0 || c.at.Sub(cs[len(cs)-1].at) > window {
				delete(r.m, key)
			}
		}
	}
	cs := r.m[k][:0:0]
	for _, old := range r.m[k] {
		if c.at.Sub(old.at) <= window {
			cs = append(cs, old)
		}
	}
	cs = append(cs, c)
	distinct := false
	for _, old := range cs {
		distinct = distinct || old.link != c.link
	}
	var out []int64
	if distinct {
		for i := range cs {
			if !cs[i].marked {
				out = append(out, cs[i].id)
				cs[i].marked = true
			}
		}
	}
	r.m[k] = cs
	return out
}

// Unsubscribed counts an unsubscribe for the mail whose link (or
// List-Unsubscribe header) it came through: mailToken is that link's "m".
// Once per mail and person. A missing or foreign token counts nothing and
// is no error: the unsubscribe itself has happened already.
func (s *Service) Unsubscribed(ctx context.Context, mailToken string, subscriberID int64) error {
	t, ok := s.codec.open(mailToken)
	if !ok || t.sub != 0 || subscriberID <= 0 {
		return nil
	}
	l, err := s.lookup(ctx, t.link)
	if errs.Is(err, errs.NotFound) || (err == nil && l.url != "") {
		return nil
	}
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO unsubscribes (mail, subscriber_id, at) SELECT ?, id, ? FROM subscribers WHERE id = ?
			ON CONFLICT (mail, subscriber_id) DO NOTHING`, l.mail, tx.Now.Unix(), subscriberID)
		if err != nil {
			return fmt.Errorf("tracking: count an unsubscribe from %s: %w", l.mail, err)
		}
		return nil
	})
}
