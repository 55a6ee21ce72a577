package campaigns

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/tracking"
)

// Status is where a campaign is in its life.
type Status string

// The statuses of API.md. A recurring campaign (Cron set) stays scheduled and
// spawns a child campaign per occurrence; the children run and finish.
const (
	Draft     Status = "draft"
	Scheduled Status = "scheduled"
	Running   Status = "running"
	Paused    Status = "paused"
	Finished  Status = "finished"
	Cancelled Status = "cancelled"
)

// DefaultList is the list a campaign goes to when it names none (API.md).
const DefaultList = "newsletter"

// Campaign is a campaign as the Marketer API shows it.
type Campaign struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Subject   string     `json:"subject"`
	Preheader string     `json:"preheader"`
	Markdown  string     `json:"markdown"`
	Lists     []string   `json:"lists"`
	SegmentID *int64     `json:"segment_id"`
	LayoutID  *int64     `json:"layout_id"`
	SendAt    *time.Time `json:"send_at"`
	Cron      string     `json:"cron"`
	// CouponPool hands each recipient one code of this pool ({{ .Coupon }}).
	CouponPool string `json:"coupon_pool,omitempty"`
	// UTM: the campaign's tracked links get the UTM parameters (default true).
	UTM bool `json:"utm"`
	// ContactPolicy is what the contact policy (package contact) does to a
	// recipient over the frequency cap: ContactSkip, ContactWait or ContactIgnore.
	ContactPolicy string `json:"contact_policy"`
	// QuietUntil: a running campaign sends nothing in the contact policy's
	// quiet hours; this is when they end (only while they last).
	QuietUntil *time.Time `json:"quiet_until,omitempty"`
	// ExistingCustomers: the campaign is about the shop's own similar
	// products and may reach existing customers (UWG § 7 (3)), whose mail
	// then carries the objection notice.
	ExistingCustomers bool `json:"existing_customers"`
	// ParentID is the recurring campaign this send was spawned from.
	ParentID  *int64     `json:"parent_id,omitempty"`
	Status    Status     `json:"status"`
	NextRunAt *time.Time `json:"next_run_at,omitempty"`
	Stats     Stats      `json:"stats"`
	// An A/B test (abtest.go): the variants (A first, with each one's test
	// figures once started), the test's settings, and the chosen variant.
	Variants   []Variant  `json:"variants,omitempty"`
	AB         *AB        `json:"ab,omitempty"`
	Winner     *int       `json:"winner,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Stats counts a send's deliveries. Audience = Sent + Failed + Pending +
// Skipped + Capped + Cancelled. Pending includes deliveries being sent right now and
// those waiting for a retry.
type Stats struct {
	Audience int64 `json:"audience"`
	Sent     int64 `json:"sent"`
	Failed   int64 `json:"failed"`
	Pending  int64 `json:"pending"`
	// Skipped: no longer mailable when their turn came (unsubscribed, suppressed, erased).
	Skipped int64 `json:"skipped"`
	// Capped: not mailed because the contact policy's frequency cap held
	// them and the campaign skips such recipients (ContactSkip).
	Capped    int64 `json:"capped"`
	Cancelled int64 `json:"cancelled"`
	// What recipients did with it: opens, clicks, unsubscribes, orders and
	// revenue (package tracking; zero when tracking is off).
	tracking.Stats

	// What came back (package feedback): Delivered are the sent mails no
	// bounce came back for; Bounced the deliveries that bounced (refused
	// at send, or reported after); Complained those marked as spam.
	Delivered  int64 `json:"delivered"`
	Bounced    int64 `json:"bounced"`
	Complained int64 `json:"complained"`
}

// Input is what a marketer writes: the body of POST /api/campaigns.
type Input struct {
	Name      string     `json:"name"`
	Subject   string     `json:"subject"`
	Preheader string     `json:"preheader"`
	Markdown  string     `json:"markdown"`
	Lists     []string   `json:"lists"`
	SegmentID *int64     `json:"segment_id"`
	LayoutID  *int64     `json:"layout_id"`
	SendAt    *time.Time `json:"send_at"`
	Cron      string     `json:"cron"`
	// CouponPool is the slug of the pool {{ .Coupon }} takes one code per
	// recipient from, assigned at send; required when the mail uses it.
	CouponPool string `json:"coupon_pool,omitempty"`
	UTM        *bool  `json:"utm"` // nil: true on create, unchanged on update
	// Variants (2-4, A first) make the campaign an A/B test with the
	// settings AB (nil: the defaults); none: a plain campaign.
	Variants []Variant `json:"variants,omitempty"`
	AB       *ABInput  `json:"ab,omitempty"`
	// ContactPolicy: "skip", "wait" or "ignore"; "": skip on create,
	// unchanged on update.
	ContactPolicy string `json:"contact_policy,omitempty"`
	// ExistingCustomers: may reach existing customers (see Campaign).
	ExistingCustomers bool `json:"existing_customers"`
}

// What a campaign does with a recipient the contact policy holds.
const (
	// ContactSkip (the default, like Klaviyo's smart sending): a recipient
	// over the frequency cap is skipped and counted as capped; during quiet
	// hours the send pauses and goes on when they end.
	ContactSkip = "skip"
	// ContactWait: a recipient over the cap gets the mail when the cap
	// allows it (the campaign stays running until then); quiet hours as skip.
	ContactWait = "wait"
	// ContactIgnore: neither cap nor quiet hours (a recall notice, say); the
	// mails still count towards the cap of later mail.
	ContactIgnore = "ignore"
)

// ListOptions pages through campaigns, newest first.
type ListOptions struct {
	Status   Status // "" = all
	BeforeID int64  // keyset paging: only ids below this; 0 = from the newest
	Limit    int    // default 50, at most 500
}

const campaignCols = `c.id, c.name, c.subject, c.preheader, c.markdown, c.lists, c.segment_id, c.layout_id,
	c.send_at, c.cron, c.parent_id, c.status, c.next_run_at, c.audience, c.started_at, c.finished_at,
	c.created_at, c.updated_at, c.coupon_pool, c.utm, c.contact_policy, c.existing_customers`

type rowScanner interface{ Scan(dest ...any) error }

func scanCampaign(r rowScanner) (Campaign, error) {
	var (
		c                                  Campaign
		lists                              string
		segment, layout, parent            sql.NullInt64
		sendAt, nextRun, started, finished sql.NullInt64
		created, updated                   int64
	)
	err := r.Scan(&c.ID, &c.Name, &c.Subject, &c.Preheader, &c.Markdown, &lists, &segment, &layout,
		&sendAt, &c.Cron, &parent, &c.Status, &nextRun, &c.Stats.Audience, &started, &finished,
		&created, &updated, &c.CouponPool, &c.UTM, &c.ContactPolicy, &c.ExistingCustomers)
	if err != nil {
		return Campaign{}, err
	}
	if err := json.Unmarshal([]byte(lists), &c.Lists); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: lists of %d: %w", c.ID, err)
	}
	c.SegmentID, c.LayoutID, c.ParentID = nullID(segment), nullID(layout), nullID(parent)
	c.SendAt, c.NextRunAt, c.StartedAt, c.FinishedAt = nullTime(sendAt), nullTime(nextRun), nullTime(started), nullTime(finished)
	c.CreatedAt, c.UpdatedAt = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC()
	return c, nil
}

func nullID(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}

func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.Unix(v.Int64, 0).UTC()
	return &t
}

func unixOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Unix()
}

func boolOrNil(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func idOrNil(id *int64) any {
	if id == nil {
		return nil
	}
	return *id
}

// Create saves a new draft campaign. A template error is an errs.Invalidf
// naming "subject", "markdown" or "layout" with its line.
func (e *Engine) Create(ctx context.Context, in Input) (Campaign, error) {
	in, err := e.validate(ctx, in)
	if err != nil {
		return Campaign{}, err
	}
	lists, _ := json.Marshal(in.Lists)
	var id int64
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO campaigns
			(name, subject, preheader, markdown, lists, segment_id, layout_id, send_at, cron, status, created_at, updated_at, coupon_pool, utm, contact_policy, existing_customers)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?, coalesce(?, 'skip'), ?) RETURNING id`,
			in.Name, in.Subject, in.Preheader, in.Markdown, string(lists), idOrNil(in.SegmentID), idOrNil(in.LayoutID),
			unixOrNil(in.SendAt), in.Cron, tx.Now.Unix(), tx.Now.Unix(), in.CouponPool, in.UTM == nil || *in.UTM,
			strOrNil(in.ContactPolicy), in.ExistingCustomers).Scan(&id)
		if err != nil {
			return err
		}
		return saveAB(ctx, tx, id, in)
	})
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: create: %w", err)
	}
	return e.Get(ctx, id)
}

// Update replaces what a marketer wrote. Only a draft or a scheduled campaign
// can change; once sending has started the mail is what it was.
func (e *Engine) Update(ctx context.Context, id int64, in Input) (Campaign, error) {
	in, err := e.validate(ctx, in)
	if err != nil {
		return Campaign{}, err
	}
	lists, _ := json.Marshal(in.Lists)
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		st, err := statusOf(ctx, tx, id)
		if err != nil {
			return err
		}
		if st != Draft && st != Scheduled {
			return errs.Conflictf("campaign %d is %s; only a draft or scheduled campaign can be edited", id, st)
		}
		_, err = tx.ExecContext(ctx, `UPDATE campaigns SET name = ?, subject = ?, preheader = ?, markdown = ?,
			lists = ?, segment_id = ?, layout_id = ?, send_at = ?, cron = ?, updated_at = ?, coupon_pool = ?, utm = coalesce(?, utm),
			contact_policy = coalesce(?, contact_policy), existing_customers = ? WHERE id = ?`,
			in.Name, in.Subject, in.Preheader, in.Markdown, string(lists), idOrNil(in.SegmentID), idOrNil(in.LayoutID),
			unixOrNil(in.SendAt), in.Cron, tx.Now.Unix(), in.CouponPool, boolOrNil(in.UTM), strOrNil(in.ContactPolicy), in.ExistingCustomers, id)
		if err != nil {
			return err
		}
		if err := saveAB(ctx, tx, id, in); err != nil {
			return err
		}
		if st == Scheduled {
			if in.SendAt == nil && in.Cron == "" {
				// Nothing to wait for any more: back to draft, to be started by hand.
				_, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = 'draft', next_run_at = NULL WHERE id = ?`, id)
				return err
			}
			// Editing a scheduled campaign re-plans it from its new send_at or cron.
			return e.schedule(ctx, tx, id, in.SendAt, in.Cron)
		}
		return nil
	})
	if err != nil {
		return Campaign{}, wrap("update", id, err)
	}
	return e.Get(ctx, id)
}

// Get returns a campaign with its current stats.
func (e *Engine) Get(ctx context.Context, id int64) (Campaign, error) {
	c, err := scanCampaign(e.db.QueryRowContext(ctx, `SELECT `+campaignCols+` FROM campaigns c WHERE c.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Campaign{}, errs.NotFoundf("campaign %d not found", id)
	}
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: get %d: %w", id, err)
	}
	if c.Stats, err = e.stats(ctx, c.ID, c.Stats.Audience); err != nil {
		return Campaign{}, err
	}
	if err := e.loadAB(ctx, &c, true); err != nil {
		return Campaign{}, err
	}
	e.setQuiet(&c)
	return c, nil
}

// setQuiet fills c.QuietUntil while quiet hours hold c's send.
func (e *Engine) setQuiet(c *Campaign) {
	if c.Status != Running || c.ContactPolicy == ContactIgnore || e.cfg.Contact == nil {
		return
	}
	if until, quiet := e.cfg.Contact.QuietUntil(e.now()); quiet {
		u := until.UTC()
		c.QuietUntil = &u
	}
}

// List returns campaigns newest first, with stats.
func (e *Engine) List(ctx context.Context, o ListOptions) ([]Campaign, error) {
	if o.Limit <= 0 {
		o.Limit = 50
	}
	o.Limit = min(o.Limit, 500)
	q := `SELECT ` + campaignCols + ` FROM campaigns c WHERE (? = '' OR c.status = ?) AND (? = 0 OR c.id < ?) ORDER BY c.id DESC LIMIT ?`
	rows, err := e.db.QueryContext(ctx, q, o.Status, o.Status, o.BeforeID, o.BeforeID, o.Limit)
	if err != nil {
		return nil, fmt.Errorf("campaigns: list: %w", err)
	}
	defer rows.Close()
	var out []Campaign
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, fmt.Errorf("campaigns: list: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("campaigns: list: %w", err)
	}
	rows.Close()
	for i := range out {
		if out[i].Stats, err = e.stats(ctx, out[i].ID, out[i].Stats.Audience); err != nil {
			return nil, err
		}
		if err := e.loadAB(ctx, &out[i], false); err != nil {
			return nil, err
		}
		e.setQuiet(&out[i])
	}
	return out, nil
}

// Delete removes a campaign and its delivery rows. A campaign that is sending
// or paused must be cancelled first.
func (e *Engine) Delete(ctx context.Context, id int64) error {
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		st, err := statusOf(ctx, tx, id)
		if err != nil {
			return err
		}
		if st == Running || st == Paused {
			return errs.Conflictf("campaign %d is %s; cancel it first", id, st)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM campaigns WHERE id = ?`, id)
		return err
	})
	return wrap("delete", id, err)
}

// Stats counts a campaign's deliveries.
func (e *Engine) Stats(ctx context.Context, id int64) (Stats, error) {
	var audience int64
	err := e.db.QueryRowContext(ctx, `SELECT audience FROM campaigns WHERE id = ?`, id).Scan(&audience)
	if errors.Is(err, sql.ErrNoRows) {
		return Stats{}, errs.NotFoundf("campaign %d not found", id)
	}
	if err != nil {
		return Stats{}, fmt.Errorf("campaigns: stats %d: %w", id, err)
	}
	return e.stats(ctx, id, audience)
}

func (e *Engine) stats(ctx context.Context, id, audience int64) (Stats, error) {
	// A covering scan of deliveries_claim: no table rows are read.
	rows, err := e.db.QueryContext(ctx, `SELECT status, count(*) FROM deliveries WHERE campaign_id = ? GROUP BY status`, id)
	if err != nil {
		return Stats{}, fmt.Errorf("campaigns: stats %d: %w", id, err)
	}
	defer rows.Close()
	s := Stats{Audience: audience}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return Stats{}, fmt.Errorf("campaigns: stats %d: %w", id, err)
		}
		switch st {
		case "sent":
			s.Sent = n
		case "failed":
			s.Failed = n
		case "pending", "sending":
			s.Pending += n
		case "skipped":
			s.Skipped = n
		case "cancelled":
			s.Cancelled = n
		}
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("campaigns: stats %d: %w", id, err)
	}
	rows.Close()
	if s.Skipped > 0 {
		// Capped deliveries are skipped ones with reply 'capped'; the partial
		// index deliveries_capped counts them without reading rows.
		if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM deliveries
			WHERE campaign_id = ? AND status = 'skipped' AND reply = 'capped'`, id).Scan(&s.Capped); err != nil {
			return Stats{}, fmt.Errorf("campaigns: stats %d: %w", id, err)
		}
		s.Skipped -= s.Capped
	}
	if e.cfg.Tracking != nil {
		if s.Stats, err = e.cfg.Tracking.Stats(ctx, tracking.CampaignKey(id)); err != nil {
			return Stats{}, err
		}
	}
	s.Delivered = s.Sent
	if e.cfg.Feedback != nil {
		fc, err := e.cfg.Feedback(ctx, id)
		if err != nil {
			return Stats{}, err
		}
		s.Bounced, s.Complained = fc.Bounced, fc.Complained
		s.Delivered = max(s.Sent-fc.BouncedAfterSend, 0)
	}
	return s, nil
}

func statusOf(ctx context.Context, tx *store.Tx, id int64) (Status, error) {
	var st Status
	err := tx.QueryRowContext(ctx, `SELECT status FROM campaigns WHERE id = ?`, id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errs.NotFoundf("campaign %d not found", id)
	}
	return st, err
}

// wrap adds context to an unexpected error and passes errs kinds through as they are.
func wrap(op string, id int64, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errs.As(err); ok {
		return err
	}
	return fmt.Errorf("campaigns: %s %d: %w", op, id, err)
}

// cronParser accepts the five standard fields, descriptors such as @daily and
// @every 1h, and a CRON_TZ= prefix.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func (e *Engine) parseCron(spec string) (cron.Schedule, error) {
	if !strings.HasPrefix(spec, "CRON_TZ=") && !strings.HasPrefix(spec, "TZ=") && e.cfg.Location != nil && e.cfg.Location != time.UTC {
		spec = "CRON_TZ=" + e.cfg.Location.String() + " " + spec
	}
	return cronParser.Parse(spec)
}

func (e *Engine) validate(ctx context.Context, in Input) (Input, error) {
	in = fillFromVariants(in)
	in.Name = strings.TrimSpace(in.Name)
	in.Subject = strings.TrimSpace(in.Subject)
	in.Cron = strings.TrimSpace(in.Cron)
	if in.Name == "" {
		in.Name = in.Subject
	}
	switch {
	case in.Subject == "":
		return in, errs.Invalidf("subject", "subject is required")
	case utf8.RuneCountInString(in.Subject) > 500:
		return in, errs.Invalidf("subject", "subject is longer than 500 characters")
	case utf8.RuneCountInString(in.Name) > 200:
		return in, errs.Invalidf("name", "name is longer than 200 characters")
	case strings.TrimSpace(in.Markdown) == "":
		return in, errs.Invalidf("markdown", "markdown is required")
	case len(in.Markdown) > 1<<20:
		return in, errs.Invalidf("markdown", "markdown is larger than 1 MiB")
	}
	if len(in.Lists) == 0 {
		in.Lists = []string{DefaultList}
	}
	seen := map[string]bool{}
	lists := in.Lists[:0:0]
	for _, slug := range in.Lists {
		slug = strings.TrimSpace(slug)
		if seen[slug] {
			continue
		}
		seen[slug] = true
		var n int
		if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM lists WHERE slug = ?`, slug).Scan(&n); err != nil {
			return in, fmt.Errorf("campaigns: validate lists: %w", err)
		}
		if n == 0 {
			return in, errs.Invalidf("lists", "unknown list %q", slug)
		}
		lists = append(lists, slug)
	}
	in.Lists = lists
	if in.SegmentID != nil {
		if _, err := e.segs.Get(ctx, *in.SegmentID); err != nil {
			if errs.Is(err, errs.NotFound) {
				return in, errs.Invalidf("segment_id", "unknown segment %d", *in.SegmentID)
			}
			return in, err
		}
	}
	if in.Cron != "" {
		if _, err := e.parseCron(in.Cron); err != nil {
			return in, errs.Invalidf("cron", "cron: %v", err)
		}
	}
	if in.SendAt != nil {
		t := in.SendAt.UTC().Truncate(time.Second)
		in.SendAt = &t
	}
	layout, err := e.layoutHTML(ctx, in.LayoutID)
	if err != nil {
		return in, err
	}
	tmpl, err := templates.Compile(e.source(in.Subject, in.Preheader, in.Markdown, layout))
	if err != nil {
		return in, err
	}
	switch in.ContactPolicy = strings.TrimSpace(in.ContactPolicy); in.ContactPolicy {
	case "", ContactSkip, ContactWait, ContactIgnore:
	default:
		return in, errs.Invalidf("contact_policy", "contact_policy must be skip, wait or ignore")
	}
	if in.CouponPool, err = e.checkCouponPool(ctx, in.CouponPool, tmpl); err != nil {
		return in, err
	}
	return e.validateAB(ctx, in, layout)
}
