package subscribers

import (
	"context"
	"fmt"
	"strings"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Unsubscribe acts on an unsubscribe link (the page's button or an RFC 8058
// one-click POST): the subscriber leaves every list at once and the
// withdrawal is logged with meta.Channel (one_click or page). Doing it again
// changes nothing. A valid link of a subscriber who is gone (erased, purged)
// succeeds too: they get no mail either way.
func (s *Service) Unsubscribe(ctx context.Context, token string, meta Meta) (Subscriber, error) {
	id, _, err := s.links.Parse(token, PurposeManage)
	if err != nil {
		return Subscriber{}, err
	}
	meta = metaClean(meta)
	if meta.Channel == "" {
		meta.Channel = ChannelOneClick
	}
	var sub Subscriber
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		rw, err := s.loadRowTx(ctx, tx, byID(id))
		if errs.Is(err, errs.NotFound) {
			sub = Subscriber{ID: id, Status: StatusUnsubscribed}
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.unsubscribeAll(ctx, tx, rw, meta); err != nil {
			return err
		}
		sub, err = load(ctx, tx, byID(id))
		return err
	})
	return sub, err
}

func (s *Service) unsubscribeAll(ctx context.Context, tx *store.Tx, rw row, meta Meta) error {
	if rw.status == StatusUnsubscribed {
		return nil
	}
	now := tx.Now.Unix()
	if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?, updated_at = ? WHERE id = ?`,
		now, now, rw.id); err != nil {
		return fmt.Errorf("subscribers: unsubscribe %d: %w", rw.id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET status = 'unsubscribed', updated_at = ?
		WHERE subscriber_id = ? AND status <> 'unsubscribed'`, now, rw.id); err != nil {
		return fmt.Errorf("subscribers: unsubscribe %d: %w", rw.id, err)
	}
	// Marketing mail already queued (a flow step, a deferred retry) must not
	// go out after the withdrawal.
	for _, e := range s.cfg.Erasers {
		if d, ok := e.(MarketingDropper); ok {
			if err := d.DropMarketing(ctx, tx, rw.id); err != nil {
				return err
			}
		}
	}
	if err := s.addConsents(ctx, tx, rw.id, consentRow{action: ActionUnsubscribed, channel: meta.Channel,
		ip: meta.IP, ua: meta.UserAgent, detail: "all lists"}); err != nil {
		return err
	}
	if s.OnUnsubscribed != nil {
		return s.OnUnsubscribed(ctx, tx, rw.id, meta.Channel)
	}
	return nil
}

// Prefs is what the preferences page shows.
type Prefs struct {
	Subscriber Subscriber
	Lists      []PrefList
}

// PrefList is one checkbox on the preferences page.
type PrefList struct {
	Slug, Name, Description string
	Subscribed              bool // active, or asked for and not confirmed yet
}

// Preferences reads what a preferences link shows.
func (s *Service) Preferences(ctx context.Context, token string) (Prefs, error) {
	id, _, err := s.links.Parse(token, PurposeManage)
	if err != nil {
		return Prefs{}, err
	}
	return s.prefs(ctx, s.db, id)
}

func (s *Service) prefs(ctx context.Context, q querier, id int64) (Prefs, error) {
	sub, err := load(ctx, q, byID(id))
	if errs.Is(err, errs.NotFound) {
		return Prefs{}, tokenInvalid() // erased: nothing to show
	}
	if err != nil {
		return Prefs{}, err
	}
	rows, err := q.QueryContext(ctx, `SELECT slug, name, description FROM lists ORDER BY name, slug`)
	if err != nil {
		return Prefs{}, fmt.Errorf("subscribers: preferences of %d: %w", id, err)
	}
	defer rows.Close()
	p := Prefs{Subscriber: sub}
	for rows.Next() {
		var l PrefList
		if err := rows.Scan(&l.Slug, &l.Name, &l.Description); err != nil {
			return Prefs{}, fmt.Errorf("subscribers: preferences of %d: %w", id, err)
		}
		if sub.Status != StatusUnsubscribed {
			for _, m := range sub.Lists {
				if m.Slug == l.Slug && m.Status != StatusUnsubscribed {
					l.Subscribed = true
				}
			}
		}
		p.Lists = append(p.Lists, l)
	}
	return p, rows.Err()
}

// PrefsInput is the preferences form.
type PrefsInput struct {
	Name           string
	Locale         string
	Lists          []string // the checked lists
	UnsubscribeAll bool
	// Tracking, when set, turns tracking consent on or off (tracking.go).
	Tracking *bool
}

// SavePreferences applies the preferences form. The link proves the mailbox
// is theirs, so lists ticked here become active without another mail, and an
// unsubscribed subscriber who ticks a list is subscribed again
// ("resubscribed"). Ticking no list at all, or UnsubscribeAll, unsubscribes
// from everything. Every change is logged in the consent log.
func (s *Service) SavePreferences(ctx context.Context, token string, in PrefsInput, meta Meta) (Prefs, error) {
	id, _, err := s.links.Parse(token, PurposeManage)
	if err != nil {
		return Prefs{}, err
	}
	name, err := ValidateName(in.Name)
	if err != nil {
		return Prefs{}, err
	}
	locale, err := ValidateLocale(in.Locale)
	if err != nil {
		return Prefs{}, err
	}
	want, err := s.resolveLists(ctx, in.Lists, false)
	if err != nil {
		return Prefs{}, err
	}
	meta = metaClean(meta)
	if meta.Channel == "" {
		meta.Channel = ChannelPreferences
	}
	var p Prefs
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		rw, err := s.loadRowTx(ctx, tx, byID(id))
		if errs.Is(err, errs.NotFound) {
			return tokenInvalid()
		}
		if err != nil {
			return err
		}
		now := tx.Now.Unix()
		var changes []string
		if in.Tracking != nil {
			if _, err := s.setTracking(ctx, tx, id, *in.Tracking, consentRow{channel: meta.Channel, ip: meta.IP,
				ua: meta.UserAgent, text: TrackingText(locale)}); err != nil {
				return err
			}
		}
		if name != rw.name || locale != rw.locale {
			if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET name = ?, locale = ?, updated_at = ? WHERE id = ?`,
				name, locale, now, id); err != nil {
				return fmt.Errorf("subscribers: preferences of %d: %w", id, err)
			}
			if name != rw.name {
				changes = append(changes, "name")
			}
			if locale != rw.locale {
				changes = append(changes, "locale="+locale)
			}
		}
		if in.UnsubscribeAll || len(want) == 0 {
			if len(changes) > 0 {
				if err := s.addConsents(ctx, tx, id, consentRow{action: ActionPreferences, channel: meta.Channel,
					ip: meta.IP, ua: meta.UserAgent, detail: strings.Join(changes, " ")}); err != nil {
					return err
				}
			}
			if err := s.unsubscribeAll(ctx, tx, rw, meta); err != nil {
				return err
			}
			p, err = s.prefs(ctx, tx, id)
			return err
		}
		ms, err := loadMemberships(ctx, tx, id)
		if err != nil {
			return err
		}
		// A pending subscriber's ticks stay pending: the confirmation click
		// is what the consent log needs for them.
		target := StatusActive
		if rw.status == StatusPending {
			target = StatusPending
		}
		var add, drop []listRef
		for _, l := range want {
			st := statusIn(ms, l.ID)
			if st != StatusActive && st != target {
				add = append(add, l)
			}
		}
		for _, m := range ms {
			if m.status == StatusUnsubscribed {
				continue
			}
			keep := false
			for _, l := range want {
				keep = keep || l.ID == m.listID
			}
			if !keep {
				drop = append(drop, listRef{m.listID, m.slug})
			}
		}
		if err := s.setMemberships(ctx, tx, id, add, target); err != nil {
			return err
		}
		if err := s.setMemberships(ctx, tx, id, drop, StatusUnsubscribed); err != nil {
			return err
		}
		action := ActionPreferences
		if rw.status == StatusUnsubscribed {
			action = ActionResubscribed
			if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = 'active', updated_at = ? WHERE id = ?`, now, id); err != nil {
				return fmt.Errorf("subscribers: resubscribe %d: %w", id, err)
			}
		}
		if len(add) > 0 || len(drop) > 0 {
			changes = append(changes, "lists="+slugsOf(want))
		}
		if len(changes) > 0 {
			if err := s.addConsents(ctx, tx, id, consentRow{action: action, channel: meta.Channel,
				ip: meta.IP, ua: meta.UserAgent, detail: strings.Join(changes, " ")}); err != nil {
				return err
			}
		}
		p, err = s.prefs(ctx, tx, id)
		return err
	})
	if err != nil {
		return Prefs{}, err
	}
	return p, nil
}
