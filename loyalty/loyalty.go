package loyalty

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/events"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/templates"
)

// Config is the bonus programme. Zero values switch its parts off.
type Config struct {
	// PointsPerEuro: points per unit of the shop's currency an order earns
	// (rounded down per order); 0: no points.
	PointsPerEuro float64
	// RewardPoints: a balance of this many points becomes one coupon code
	// of RewardPool (the points are spent); 0 or no pool: never.
	RewardPoints int64
	RewardPool   string
	// ReferralPoints: what a referrer earns when a friend who enrolled
	// through their link orders for the first time; ReferralPool, if set,
	// adds a coupon code of that pool.
	ReferralPoints int64
	ReferralPool   string
}

// Validate names the setting at fault.
func (c Config) Validate() error {
	switch {
	case c.PointsPerEuro < 0 || math.IsNaN(c.PointsPerEuro) || c.PointsPerEuro > 1000:
		return errs.Invalidf("points-per-euro", "points-per-euro must be between 0 and 1000")
	case c.RewardPoints < 0:
		return errs.Invalidf("reward-points", "reward-points must not be negative")
	case c.RewardPoints > 0 && c.RewardPool == "":
		return errs.Invalidf("reward-pool", "reward-points needs reward-pool, the coupon pool the codes come from")
	case c.ReferralPoints < 0:
		return errs.Invalidf("referral-points", "referral-points must not be negative")
	}
	return nil
}

// PointsOn reports whether orders earn points.
func (c Config) PointsOn() bool { return c.PointsPerEuro > 0 }

// Ledger kinds (loyalty_points.kind).
const (
	KindOrder    = "order"    // earned by an order (ref: the order id)
	KindRefund   = "refund"   // taken back by its refund (ref: the order id)
	KindReward   = "reward"   // spent on a coupon code (ref: the code)
	KindReferral = "referral" // earned by a friend's first order (ref: the friend's id)
)

// Coupons hands out one code of a pool inside the caller's transaction
// (package coupons).
type Coupons interface {
	Assign(ctx context.Context, tx *store.Tx, poolSlug string, subscriberID int64) (string, error)
}

// Service keeps the points ledger and the referrals.
type Service struct {
	db      *store.DB
	cfg     Config
	coupons Coupons
	log     *slog.Logger

	// Links signs the referral links; nil: no referral links. Set once
	// before the server starts.
	Links *ReferralLinks
}

// New returns a Service. coupons may be nil when no pool is configured.
func New(db *store.DB, cfg Config, coupons Coupons, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if coupons == nil && (cfg.RewardPool != "" || cfg.ReferralPool != "") {
		return nil, errors.New("loyalty: a coupon pool is configured but coupons are not available")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, cfg: cfg, coupons: coupons, log: log}, nil
}

// Config returns the programme in use.
func (s *Service) Config() Config { return s.cfg }

// Querier reads: a *store.Tx or the *store.DB read pool.
type Querier = events.Querier

const insertEntry = `INSERT INTO loyalty_points (subscriber_id, kind, ref, points, created_at)
	VALUES (?, ?, ?, ?, ?) ON CONFLICT (subscriber_id, kind, ref) DO NOTHING`

// add writes one ledger entry; a second entry of the same kind and ref (a
// repeated event) changes nothing and reports false.
func add(ctx context.Context, tx *store.Tx, sub int64, kind, ref string, points int64) (bool, error) {
	res, err := tx.ExecCached(ctx, insertEntry, sub, kind, ref, points, tx.Now.Unix())
	if err != nil {
		return false, fmt.Errorf("loyalty: %s %s of %d: %w", kind, ref, sub, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// earned is what an order total earns: rounded down, so a refund of the
// same amount takes back exactly as much.
func (c Config) earned(total float64) int64 {
	return int64(math.Floor(total*c.PointsPerEuro + 1e-9))
}

// OnOrder runs in the transaction that stores a new order (events'
// Config.OnOrder): the order earns points, the customer's first order
// credits the friend who recommended them, and a balance that reached
// RewardPoints becomes a coupon code.
func (s *Service) OnOrder(ctx context.Context, tx *store.Tx, o events.PlacedOrder) error {
	if o.SubscriberID == 0 {
		return nil // a guest: nobody to credit
	}
	if s.cfg.PointsOn() {
		if p := s.cfg.earned(o.Total); p > 0 {
			if _, err := add(ctx, tx, o.SubscriberID, KindOrder, o.OrderID, p); err != nil {
				return err
			}
		}
	}
	referrer, err := s.creditReferrer(ctx, tx, o.SubscriberID)
	if err != nil {
		return err
	}
	if _, err := s.reward(ctx, tx, o.SubscriberID); err != nil {
		return err
	}
	if referrer > 0 {
		_, err = s.reward(ctx, tx, referrer)
	}
	return err
}

// OnRefund runs in the transaction that stores an order.refunded event: the
// points the order earned go back, in proportion to the amount refunded,
// once per order. Points already spent on a reward leave the balance below
// zero until new orders make up for it.
func (s *Service) OnRefund(ctx context.Context, tx *store.Tx, r events.RefundedOrder) error {
	var got int64
	err := tx.QueryRowContext(ctx, `SELECT points FROM loyalty_points WHERE subscriber_id = ? AND kind = 'order' AND ref = ?`,
		r.SubscriberID, r.OrderID).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // the order earned nothing
	}
	if err != nil {
		return fmt.Errorf("loyalty: refund %s: %w", r.OrderID, err)
	}
	back := got
	if r.Refunded < r.Total {
		back = min(got, s.cfg.earned(r.Refunded))
	}
	if back <= 0 {
		return nil
	}
	_, err = add(ctx, tx, r.SubscriberID, KindRefund, r.OrderID, -back)
	return err
}

// Balance is a subscriber's points: the sum of their ledger.
func Balance(ctx context.Context, q Querier, subscriberID int64) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT coalesce(sum(points), 0) FROM loyalty_points WHERE subscriber_id = ?`,
		subscriberID).Scan(&n); err != nil {
		return 0, fmt.Errorf("loyalty: balance of %d: %w", subscriberID, err)
	}
	return n, nil
}

// Balances returns the balance of each of ids that has ledger entries.
func Balances(ctx context.Context, q Querier, ids []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT subscriber_id, sum(points) FROM loyalty_points
		WHERE subscriber_id IN (SELECT value FROM json_each(?)) GROUP BY subscriber_id`, store.JSONInts(ids))
	if err != nil {
		return nil, fmt.Errorf("loyalty: balances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("loyalty: balances: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// reward turns RewardPoints of the balance into a coupon code of
// RewardPool, once per call, and returns the code ("" when the balance is
// short or the programme has no reward). An empty pool is logged and left
// for a later pass: the points stay.
func (s *Service) reward(ctx context.Context, tx *store.Tx, sub int64) (string, error) {
	if s.cfg.RewardPoints <= 0 || s.cfg.RewardPool == "" {
		return "", nil
	}
	bal, err := Balance(ctx, tx, sub)
	if err != nil || bal < s.cfg.RewardPoints {
		return "", err
	}
	code, err := s.assign(ctx, tx, s.cfg.RewardPool, sub)
	if code == "" || err != nil {
		return "", err
	}
	_, err = add(ctx, tx, sub, KindReward, code, -s.cfg.RewardPoints)
	return code, err
}

// assign takes a code of pool for sub; an empty or missing pool is logged
// and gives "" without an error, so an order is never refused for it (the
// failed assignment wrote nothing).
func (s *Service) assign(ctx context.Context, tx *store.Tx, pool string, sub int64) (string, error) {
	code, err := s.coupons.Assign(ctx, tx, pool, sub)
	if _, ok := errs.As(err); ok || errors.Is(err, coupons.ErrEmpty) {
		s.log.WarnContext(ctx, "loyalty: no coupon code; tried again later", "pool", pool, "subscriber_id", sub, "err", err)
		return "", nil
	}
	return code, err
}

// Pass turns every balance that reached RewardPoints into a coupon code
// (the daily scheduler runs it, so points earned before the rule existed,
// or while the pool was empty, are rewarded too). It returns the codes given.
func (s *Service) Pass(ctx context.Context) (int, error) {
	if s.cfg.RewardPoints <= 0 || s.cfg.RewardPool == "" {
		return 0, nil
	}
	given := 0
	after := int64(0)
	for {
		rows, err := s.db.QueryContext(ctx, `SELECT subscriber_id FROM loyalty_points WHERE subscriber_id > ?
			GROUP BY subscriber_id HAVING sum(points) >= ? ORDER BY subscriber_id LIMIT 500`, after, s.cfg.RewardPoints)
		if err != nil {
			return given, fmt.Errorf("loyalty: pass: %w", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return given, fmt.Errorf("loyalty: pass: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return given, fmt.Errorf("loyalty: pass: %w", err)
		}
		if len(ids) == 0 {
			return given, nil
		}
		var empty bool
		err = s.db.Tx(ctx, func(tx *store.Tx) error {
			for _, id := range ids {
				// One reward per pass and person at most: a large balance
				// is rewarded over the following days, not in one burst.
				code, err := s.reward(ctx, tx, id)
				if err != nil {
					return err
				}
				if code == "" {
					empty = true
					return nil
				}
				given++
			}
			return nil
		})
		if err != nil || empty {
			return given, err
		}
		after = ids[len(ids)-1]
	}
}

// Reward is a coupon code given for points.
type Reward struct {
	Code   string    `json:"code"`
	Points int64     `json:"points"`
	At     time.Time `json:"at"`
}

// Account is what a subscriber page shows of the programme.
type Account struct {
	Points      int64    `json:"points"`
	Rewards     []Reward `json:"rewards"`
	ReferralURL string   `json:"referral_url,omitempty"`
	// ReferredBy is the subscriber whose link this one enrolled through.
	ReferredBy *int64 `json:"referred_by,omitempty"`
	// Referred: the friends who enrolled through this subscriber's link,
	// and Credited, those of them whose first order credited it.
	Referred []Referral `json:"referred"`
}

// Referral is a friend who enrolled through a link.
type Referral struct {
	FriendID   int64      `json:"friend_id"`
	At         time.Time  `json:"at"`
	CreditedAt *time.Time `json:"credited_at,omitempty"`
	Credit     string     `json:"credit,omitempty"` // "50 points", or the coupon code
}

// AccountOf reads subscriberID's points, rewards and referrals.
func (s *Service) AccountOf(ctx context.Context, subscriberID int64) (Account, error) {
	a := Account{Rewards: []Reward{}, Referred: []Referral{}}
	var err error
	if a.Points, err = Balance(ctx, s.db, subscriberID); err != nil {
		return Account{}, err
	}
	if s.Links != nil {
		a.ReferralURL = s.Links.URL(subscriberID)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT ref, -points, created_at FROM loyalty_points
		WHERE subscriber_id = ? AND kind = 'reward' ORDER BY id DESC LIMIT 50`, subscriberID)
	if err != nil {
		return Account{}, fmt.Errorf("loyalty: rewards of %d: %w", subscriberID, err)
	}
	for rows.Next() {
		var r Reward
		var at int64
		if err := rows.Scan(&r.Code, &r.Points, &at); err != nil {
			rows.Close()
			return Account{}, fmt.Errorf("loyalty: rewards of %d: %w", subscriberID, err)
		}
		r.At = time.Unix(at, 0).UTC()
		a.Rewards = append(a.Rewards, r)
	}
	rows.Close()
	var by int64
	err = s.db.QueryRowContext(ctx, `SELECT referrer_id FROM referrals WHERE friend_id = ?`, subscriberID).Scan(&by)
	switch {
	case err == nil:
		a.ReferredBy = &by
	case !errors.Is(err, sql.ErrNoRows):
		return Account{}, fmt.Errorf("loyalty: referrer of %d: %w", subscriberID, err)
	}
	rows, err = s.db.QueryContext(ctx, `SELECT friend_id, created_at, credited_at, credit FROM referrals
		WHERE referrer_id = ? ORDER BY created_at DESC, friend_id DESC LIMIT 100`, subscriberID)
	if err != nil {
		return Account{}, fmt.Errorf("loyalty: referrals of %d: %w", subscriberID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Referral
		var at int64
		var credited sql.NullInt64
		if err := rows.Scan(&r.FriendID, &at, &credited, &r.Credit); err != nil {
			return Account{}, fmt.Errorf("loyalty: referrals of %d: %w", subscriberID, err)
		}
		r.At = time.Unix(at, 0).UTC()
		if credited.Valid {
			t := time.Unix(credited.Int64, 0).UTC()
			r.CreditedAt = &t
		}
		a.Referred = append(a.Referred, r)
	}
	return a, rows.Err()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TemplateData is what mails print of the programme for ids ({{ .Points }},
// {{ .ReferralURL }}): the hook campaigns.Config.Loyalty and
// flows.Config.Loyalty take. One read for the whole batch.
func (s *Service) TemplateData(ctx context.Context, ids []int64) (map[int64]templates.Loyalty, error) {
	bal, err := Balances(ctx, s.db, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]templates.Loyalty, len(ids))
	for _, id := range ids {
		l := templates.Loyalty{Points: bal[id]}
		if s.Links != nil {
			l.ReferralURL = s.Links.URL(id)
		}
		out[id] = l
	}
	return out, nil
}
