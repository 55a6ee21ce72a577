package webhooks

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/tracking"
)

// Clicks turns package tracking's clicks into link.clicked events
// (tracking.Config.OnClick and OnScanner; cmd/treu wires them).
type Clicks struct {
	Hooks *Service
	// Email finds subscriber id's address inside tx; "" when it is gone.
	// Asked only for a click tied to a person, that is with their tracking
	// consent: without it the event names nobody.
	Email func(ctx context.Context, tx *store.Tx, id int64) (string, error)
}

// ClickData is the data of a link.clicked event. A campaign's click has
// campaign_id, a flow step's flow and step (0-based).
type ClickData struct {
	ClickID    int64     `json:"click_id"`
	URL        string    `json:"url"`
	CampaignID int64     `json:"campaign_id,omitempty"`
	Flow       string    `json:"flow,omitempty"`
	Step       *int      `json:"step,omitempty"`
	Subscriber int64     `json:"subscriber_id,omitempty"` // only with tracking consent
	Email      string    `json:"email,omitempty"`         // only with tracking consent
	At         time.Time `json:"at"`
}

func clickRef(id int64) string { return "click:" + strconv.FormatInt(id, 10) }

// Clicked queues link.clicked for c, held until c.Settled: a link scanner's
// second click within the window withdraws it (Scanner).
func (k Clicks) Clicked(ctx context.Context, tx *store.Tx, c tracking.Click) error {
	ids, err := k.Hooks.endpoints(ctx, tx, LinkClicked)
	if err != nil || len(ids) == 0 {
		return err // nobody asked: no address read
	}
	d := ClickData{ClickID: c.ID, URL: c.URL, CampaignID: c.CampaignID, Flow: c.Flow, At: c.At.UTC()}
	if c.Flow != "" {
		d.Step = &c.Step
	}
	// A person's clicks go out in order with their other events (and an
	// erasure drops them); an anonymous click is ordered after nothing.
	key := clickRef(c.ID)
	if c.SubscriberID != 0 {
		key = fmt.Sprintf("subscriber:%d", c.SubscriberID)
		d.Subscriber = c.SubscriberID
		if k.Email != nil {
			email, err := k.Email(ctx, tx, c.SubscriberID)
			if err != nil {
				return fmt.Errorf("webhooks: address of subscriber %d: %w", c.SubscriberID, err)
			}
			d.Email = email
		}
	}
	return k.Hooks.queue(ctx, tx, ids, LinkClicked, key, clickRef(c.ID), c.Settled, d)
}

// Scanner withdraws the events of clicks found to be a link scanner's.
func (k Clicks) Scanner(ctx context.Context, tx *store.Tx, ids []int64) error {
	refs := make([]string, len(ids))
	for i, id := range ids {
		refs[i] = clickRef(id)
	}
	return k.Hooks.Withdraw(ctx, tx, refs)
}
