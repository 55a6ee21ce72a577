package contact

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/treu-mail/treu/store"
)

// Defaults of the policy (issue 10): one marketing mail a day, three a week,
// none between 21:00 and 08:00 in the shop's zone.
const (
	DefaultPerDay  = 1
	DefaultPerWeek = 3
	DefaultQuiet   = "21:00-08:00"
)

// Clock is a time of day: minutes after local midnight (0 to 1439).
type Clock int

func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// Policy is the contact rule for marketing mail. The zero value (and a nil
// *Policy) lets everything through.
type Policy struct {
	// PerDay and PerWeek cap the marketing mails per subscriber per day (the
	// calendar day in Location) and per week (that day and the six before it);
	// 0 is no cap.
	PerDay, PerWeek int
	// No marketing mail from QuietFrom until QuietTo (local clock times; a
	// range over midnight when QuietFrom > QuietTo). Equal: no quiet hours.
	QuietFrom, QuietTo Clock
	// Location is the shop's zone (default UTC).
	Location *time.Location
}

// Default is the default policy in loc.
func Default(loc *time.Location) *Policy {
	from, to, _ := ParseQuiet(DefaultQuiet)
	return &Policy{PerDay: DefaultPerDay, PerWeek: DefaultPerWeek, QuietFrom: from, QuietTo: to, Location: loc}
}

// ParseQuiet reads quiet hours "21:00-08:00" (24-hour clock times, a range
// over midnight allowed). "", "off" and "0" are no quiet hours (from == to).
func ParseQuiet(s string) (from, to Clock, err error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" || s == "0" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("quiet hours %q must look like 21:00-08:00", s)
	}
	if from, err = parseClock(a); err == nil {
		to, err = parseClock(b)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("quiet hours %q: %w", s, err)
	}
	if from == to {
		return 0, 0, fmt.Errorf("quiet hours %q: start and end are the same time (use \"off\" for none)", s)
	}
	return from, to, nil
}

func parseClock(s string) (Clock, error) {
	s = strings.TrimSpace(s)
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not a time such as 08:00", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 || h[0] == '+' || h[0] == '-' {
		return 0, fmt.Errorf("%q is not a time such as 08:00", s)
	}
	return Clock(hh*60 + mm), nil
}

// QuietString is the quiet hours as ParseQuiet reads them; "off" for none.
func (p *Policy) QuietString() string {
	if p == nil || p.QuietFrom == p.QuietTo {
		return "off"
	}
	return p.QuietFrom.String() + "-" + p.QuietTo.String()
}

// Capped reports whether the policy has a frequency cap.
func (p *Policy) Capped() bool { return p != nil && (p.PerDay > 0 || p.PerWeek > 0) }

func (p *Policy) loc() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}

// QuietUntil reports whether t falls in quiet hours and, if so, when they
// end: the next QuietTo on the local clock, so 22:00 on the Saturday the
// clocks go forward waits until 08:00 summer time, 9 hours later.
func (p *Policy) QuietUntil(t time.Time) (time.Time, bool) {
	if p == nil || p.QuietFrom == p.QuietTo {
		return time.Time{}, false
	}
	lt := t.In(p.loc())
	m := Clock(lt.Hour()*60 + lt.Minute())
	from, to := p.QuietFrom, p.QuietTo
	var in, tomorrow bool
	if from < to {
		in = m >= from && m < to
	} else {
		in = m >= from || m < to
		tomorrow = m >= from
	}
	if !in {
		return time.Time{}, false
	}
	d := lt.Day()
	if tomorrow {
		d++
	}
	return time.Date(lt.Year(), lt.Month(), d, int(to)/60, int(to)%60, 0, 0, p.loc()), true
}

// Querier is what Check reads through: the read pool or a transaction.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Batch is what the policy knows of a batch of recipients at one moment:
// their logged mails in the window, plus those let through (Take) since.
// One Batch serves one goroutine. A nil *Batch holds nobody and records
// nothing.
type Batch struct {
	p        *Policy
	now      time.Time
	campaign int64
	sent     map[int64][]int64 // subscriber -> unix times of their mails in the window, ascending
	again    map[int64]bool    // already logged for this campaign: a retry, not a new mail
	taken    []int64           // to be logged by Record
}

// Check reads the logged mails of ids inside the cap's windows at now, in
// one query whatever the number of ids. campaign names the campaign the
// batch's mail belongs to (0 for a flow mail): a recipient already logged
// for it is never held, and not logged again. A nil Policy returns nil.
func (p *Policy) Check(ctx context.Context, q Querier, ids []int64, now time.Time, campaign int64) (*Batch, error) {
	if p == nil {
		return nil, nil
	}
	b := &Batch{p: p, now: now, campaign: campaign, sent: map[int64][]int64{}, again: map[int64]bool{}}
	if !p.Capped() || len(ids) == 0 {
		return b, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT subscriber_id, sent_at, campaign_id FROM contact_log
		WHERE subscriber_id IN (SELECT value FROM json_each(?)) AND sent_at >= ?`,
		store.JSONInts(ids), p.windowStart(now).Unix())
	if err != nil {
		return nil, fmt.Errorf("contact: check: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sub, at, c int64
		if err := rows.Scan(&sub, &at, &c); err != nil {
			return nil, fmt.Errorf("contact: check: %w", err)
		}
		if campaign != 0 && c == campaign {
			b.again[sub] = true
		}
		b.sent[sub] = append(b.sent[sub], at)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contact: check: %w", err)
	}
	for _, ts := range b.sent {
		slices.Sort(ts)
	}
	return b, nil
}

// windowStart is the earliest time a mail still counts at now: local
// midnight six days ago with a weekly cap, today's otherwise.
func (p *Policy) windowStart(now time.Time) time.Time {
	lt := now.In(p.loc())
	back := 0
	if p.PerWeek > 0 {
		back = 6
	}
	return time.Date(lt.Year(), lt.Month(), lt.Day()-back, 0, 0, 0, 0, p.loc())
}

// Held reports whether a marketing mail to id must wait at the batch's
// moment, and until when: the first time both caps and the quiet hours allow
// it (assuming no other mail meanwhile).
func (b *Batch) Held(id int64) (time.Time, bool) {
	if b == nil || b.again[id] {
		return time.Time{}, false
	}
	at := b.p.next(b.sent[id], b.now)
	return at, at.After(b.now)
}

// Quiet reports whether the batch's moment is in quiet hours and until when.
func (b *Batch) Quiet() (time.Time, bool) {
	if b == nil {
		return time.Time{}, false
	}
	return b.p.QuietUntil(b.now)
}

// next is the first moment from now on that the caps allow one more mail to
// a subscriber with the mails at times (ascending), outside quiet hours.
func (p *Policy) next(times []int64, now time.Time) time.Time {
	loc := p.loc()
	lt := now.In(loc)
	at := now
	later := func(t time.Time) {
		if t.After(at) {
			at = t
		}
	}
	if p.PerDay > 0 {
		today := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc).Unix()
		if countFrom(times, today) >= p.PerDay {
			later(time.Date(lt.Year(), lt.Month(), lt.Day()+1, 0, 0, 0, 0, loc))
		}
	}
	if p.PerWeek > 0 {
		start := time.Date(lt.Year(), lt.Month(), lt.Day()-6, 0, 0, 0, 0, loc).Unix()
		i, _ := slices.BinarySearch(times, start)
		in := times[i:]
		if len(in) >= p.PerWeek {
			// Enough of the oldest must leave the window: the one at
			// len-PerWeek leaves at local midnight seven days after its day.
			old := time.Unix(in[len(in)-p.PerWeek], 0).In(loc)
			later(time.Date(old.Year(), old.Month(), old.Day()+7, 0, 0, 0, 0, loc))
		}
	}
	// Later times only drop mails out of the windows, so moving on out of
	// quiet hours keeps the caps satisfied.
	if until, quiet := p.QuietUntil(at); quiet {
		at = until
	}
	return at
}

func countFrom(times []int64, from int64) int {
	i, _ := slices.BinarySearch(times, from)
	return len(times) - i
}

// Take notes that a marketing mail to id goes at the batch's moment: it
// counts for the rest of the batch, and Record logs it.
func (b *Batch) Take(id int64) {
	if b == nil || b.again[id] {
		return
	}
	at := b.now.Unix()
	b.sent[id] = append(b.sent[id], at) // now is after every logged time
	b.taken = append(b.taken, id)
	if b.campaign != 0 {
		b.again[id] = true
	}
}

// Record logs the mails taken, in one statement, in the transaction that
// claims or queues them.
func (b *Batch) Record(ctx context.Context, tx *store.Tx) error {
	if b == nil || len(b.taken) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO contact_log (subscriber_id, sent_at, campaign_id)
		SELECT value, ?, ? FROM json_each(?)`, b.now.Unix(), b.campaign, store.JSONInts(b.taken)); err != nil {
		return fmt.Errorf("contact: record: %w", err)
	}
	b.taken = b.taken[:0]
	return nil
}

// Record logs one marketing mail to each of ids at now without a check:
// for a sender that lets every mail through (or a test seeding the log).
func (p *Policy) Record(ctx context.Context, tx *store.Tx, ids []int64, now time.Time, campaign int64) error {
	if p == nil {
		return nil
	}
	b := &Batch{p: p, now: now, campaign: campaign, taken: ids}
	return b.Record(ctx, tx)
}

// Keep is how long the log is kept: the week window is at most seven local
// days plus a DST hour; one more day of margin.
const Keep = 8 * 24 * time.Hour

// Prune deletes log rows older than Keep at now, in chunks so that the
// writer is never held for long. It returns how many went.
func Prune(ctx context.Context, db *store.DB, now time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := db.Tx(ctx, func(tx *store.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM contact_log WHERE rowid IN
				(SELECT rowid FROM contact_log WHERE sent_at < ? LIMIT 10000)`, now.Add(-Keep).Unix())
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("contact: prune: %w", err)
		}
		total += n
		if n < 10000 {
			return total, nil
		}
	}
}

// Eraser deletes a subscriber's log rows when they are erased
// (a subscribers.Eraser).
type Eraser struct{}

// DeleteForSubscriber deletes id's rows inside the erasure's transaction.
func (Eraser) DeleteForSubscriber(ctx context.Context, tx *store.Tx, id int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM contact_log WHERE subscriber_id = ?`, id); err != nil {
		return fmt.Errorf("contact: erase %d: %w", id, err)
	}
	return nil
}
