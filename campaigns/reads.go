package campaigns

import (
	"context"
	"fmt"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
)

// Reads the marketer's pages and the metrics need, kept here because this
// package owns the tables (web and cmd run no SQL).

// Querier is what the exported reads take: the read pool or a transaction.
type Querier = subscribers.Querier

// Failure is a failed delivery with the SMTP server's reply.
type Failure struct {
	SubscriberID int64
	Email        string // empty when the subscriber was erased since
	Reply        string
}

// Failures reads a campaign's most recent failed deliveries, at most limit.
// deliveries_claim (campaign_id, status, …) finds the failed rows; only
// those are sorted.
func Failures(ctx context.Context, q Querier, campaignID int64, limit int) ([]Failure, error) {
	rows, err := q.QueryContext(ctx, `SELECT subscriber_id, coalesce(reply, '') FROM deliveries
		WHERE campaign_id = ? AND status = 'failed' ORDER BY id DESC LIMIT ?`, campaignID, limit)
	if err != nil {
		return nil, fmt.Errorf("campaigns: failures of %d: %w", campaignID, err)
	}
	defer rows.Close()
	var out []Failure
	var ids []int64
	for rows.Next() {
		var f Failure
		if err := rows.Scan(&f.SubscriberID, &f.Reply); err != nil {
			return nil, fmt.Errorf("campaigns: failures of %d: %w", campaignID, err)
		}
		out = append(out, f)
		ids = append(ids, f.SubscriberID)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("campaigns: failures of %d: %w", campaignID, err)
	}
	rows.Close()
	rc, err := subscribers.Recipients(ctx, q, ids, nil)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Email = rc[out[i].SubscriberID].Email
	}
	return out, nil
}

// UsingSegment names (at most 10) the campaigns that may still send to the
// segment: draft, scheduled, running or paused.
func UsingSegment(ctx context.Context, q Querier, segmentID int64) ([]string, error) {
	return names(ctx, q, `SELECT name FROM campaigns
		WHERE segment_id = ? AND status IN ('draft', 'scheduled', 'running', 'paused') LIMIT 10`, segmentID)
}

// DeliveryCounts counts the deliveries of running and paused campaigns by
// status, for the metrics.
func DeliveryCounts(ctx context.Context, q Querier) (map[string]int64, error) {
	out, err := store.CountBy(ctx, q, `SELECT d.status, count(*) FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
		WHERE c.status IN ('running', 'paused') GROUP BY d.status`)
	if err != nil {
		return nil, fmt.Errorf("campaigns: delivery counts: %w", err)
	}
	return out, nil
}

func names(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("campaigns: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("campaigns: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
