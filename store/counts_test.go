package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// countsDrift compares the trigger-kept subscriber_counts and list_counts
// (migration 0016) with count(*) over subscribers and subscriptions, and
// describes every difference ("" when they agree).
func countsDrift(t *testing.T, db *store.DB) string {
	t.Helper()
	ctx := context.Background()
	const q = `
		SELECT 'status ' || c.status, c.n, (SELECT count(*) FROM subscribers s WHERE s.status = c.status)
		FROM subscriber_counts c
		UNION ALL
		SELECT 'status ' || s.status || ' (no counter)', 0, count(*) FROM subscribers s
		WHERE s.status NOT IN (SELECT status FROM subscriber_counts) GROUP BY s.status
		UNION ALL
		SELECT 'list ' || l.id || ' listed', coalesce(c.listed, -1),
			(SELECT count(*) FROM subscriptions su WHERE su.list_id = l.id AND su.status = 'active')
		FROM lists l LEFT JOIN list_counts c ON c.list_id = l.id
		UNION ALL
		SELECT 'list ' || l.id || ' active', coalesce(c.active, -1),
			(SELECT count(*) FROM subscriptions su JOIN subscribers s ON s.id = su.subscriber_id
				WHERE su.list_id = l.id AND su.status = 'active' AND s.status = 'active')
		FROM lists l LEFT JOIN list_counts c ON c.list_id = l.id
		UNION ALL
		SELECT 'list ' || l.id || ' pending', coalesce(c.pending, -1),
			(SELECT count(*) FROM subscriptions su WHERE su.list_id = l.id AND su.status = 'pending')
		FROM lists l LEFT JOIN list_counts c ON c.list_id = l.id
		UNION ALL
		SELECT 'list_counts ' || c.list_id || ' without its list', 1, 0
		FROM list_counts c WHERE c.list_id NOT IN (SELECT id FROM lists)`
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var drift []string
	for rows.Next() {
		var what string
		var kept, counted int64
		if err := rows.Scan(&what, &kept, &counted); err != nil {
			t.Fatal(err)
		}
		if kept != counted {
			drift = append(drift, fmt.Sprintf("%s: kept %d, counted %d", what, kept, counted))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(drift, "; ")
}

// insertID runs an INSERT ... RETURNING id in a write transaction (the
// read pool is read-only on SQLite).
func insertID(t *testing.T, db *store.DB, q string, args ...any) int64 {
	t.Helper()
	var id int64
	err := db.Tx(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRowContext(context.Background(), q, args...).Scan(&id)
	})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return id
}

// The counting triggers keep subscriber_counts and list_counts equal to
// count(*) through inserts, status changes, upserts, moves between lists,
// and deletions of subscribers and lists (the cascades), on both engines.
func TestCountsTriggers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		exec := func(q string, args ...any) {
			t.Helper()
			if err := db.Tx(ctx, func(tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, q, args...)
				return err
			}); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		check := func(step string) {
			t.Helper()
			if d := countsDrift(t, db); d != "" {
				t.Fatalf("after %s: %s", step, d)
			}
		}
		check("migrations")
		ids := map[string]int64{}
		for _, slug := range []string{"a", "b"} {
			ids["list "+slug] = insertID(t, db, `INSERT INTO lists (slug, name, created_at) VALUES (?, ?, 0) RETURNING id`, slug, slug)
		}
		var newsletter int64
		if err := db.QueryRowContext(ctx, `SELECT id FROM lists WHERE slug = 'newsletter'`).Scan(&newsletter); err != nil {
			t.Fatal(err)
		}
		for _, s := range []struct{ name, status string }{{"ann", "active"}, {"bob", "pending"}, {"cem", "active"}, {"dev", "unsubscribed"}} {
			ids[s.name] = insertID(t, db, `INSERT INTO subscribers (email, email_key, status, created_at, updated_at) VALUES (?, ?, ?, 0, 0) RETURNING id`,
				s.name+"@example.com", s.name+"@example.com", s.status)
		}
		check("subscribers")
		la, lb := ids["list a"], ids["list b"]
		for _, su := range []struct {
			who    string
			list   int64
			status string
		}{{"ann", la, "active"}, {"ann", lb, "pending"}, {"bob", la, "pending"}, {"cem", la, "active"}, {"cem", lb, "active"}, {"dev", lb, "unsubscribed"}} {
			exec(`INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at) VALUES (?, ?, ?, 0, 0)`, ids[su.who], su.list, su.status)
		}
		check("subscriptions")
		exec(`UPDATE subscribers SET status = 'active' WHERE id = ?`, ids["bob"])
		exec(`UPDATE subscriptions SET status = 'active' WHERE subscriber_id = ? AND list_id = ?`, ids["bob"], la)
		check("confirming bob")
		exec(`UPDATE subscribers SET status = 'unsubscribed' WHERE id = ?`, ids["ann"])
		check("ann unsubscribing")
		exec(`UPDATE subscribers SET status = status, name = 'same' WHERE id = ?`, ids["cem"])
		check("an update that keeps the status")
		exec(`INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at) VALUES (?, ?, 'pending', 0, 0)
			ON CONFLICT (subscriber_id, list_id) DO UPDATE SET status = excluded.status`, ids["cem"], lb)
		check("an upsert")
		exec(`UPDATE subscriptions SET list_id = ? WHERE subscriber_id = ? AND list_id = ?`, newsletter, ids["cem"], la)
		check("moving a subscription to another list")
		exec(`DELETE FROM subscriptions WHERE subscriber_id = ? AND list_id = ?`, ids["ann"], lb)
		check("deleting a subscription")
		exec(`DELETE FROM subscribers WHERE id = ?`, ids["cem"])
		check("deleting an active subscriber (cascade)")
		exec(`UPDATE subscribers SET status = 'active'`)
		check("activating everyone")
		exec(`DELETE FROM lists WHERE id = ?`, lb)
		check("deleting a list (cascade)")
		exec(`DELETE FROM subscribers`)
		check("deleting everyone")
	})
}

// Writers at the same time (on PostgreSQL really concurrent): one changes
// subscribers' statuses while others add, change and remove their
// subscriptions. The counts must still agree with count(*) at the end.
func TestCountsConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var lists, subs []int64
		for i := range 3 {
			lists = append(lists, insertID(t, db, `INSERT INTO lists (slug, name, created_at) VALUES (?, 'x', 0) RETURNING id`, fmt.Sprint("l", i)))
		}
		for i := range 6 {
			e := fmt.Sprintf("s%d@example.com", i)
			subs = append(subs, insertID(t, db, `INSERT INTO subscribers (email, email_key, status, created_at, updated_at) VALUES (?, ?, 'pending', 0, 0) RETURNING id`, e, e))
		}
		statuses := []string{"pending", "active", "unsubscribed"}
		const rounds = 150
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		run := func(seed uint64, step func(r *rand.Rand, tx *store.Tx) error) {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, 1))
				for range rounds {
					if err := db.Tx(ctx, func(tx *store.Tx) error { return step(r, tx) }); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		// Statuses: one subscriber per transaction, as the app changes them.
		run(1, func(r *rand.Rand, tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = ? WHERE id = ?`, statuses[r.IntN(3)], subs[r.IntN(len(subs))])
			return err
		})
		for g := range 3 {
			run(uint64(10+g), func(r *rand.Rand, tx *store.Tx) error {
				sub, list := subs[r.IntN(len(subs))], lists[r.IntN(len(lists))]
				var err error
				if r.IntN(4) == 0 {
					_, err = tx.ExecContext(ctx, `DELETE FROM subscriptions WHERE subscriber_id = ? AND list_id = ?`, sub, list)
				} else {
					_, err = tx.ExecContext(ctx, `INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at) VALUES (?, ?, ?, 0, 0)
						ON CONFLICT (subscriber_id, list_id) DO UPDATE SET status = excluded.status`, sub, list, statuses[r.IntN(3)])
				}
				return err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if d := countsDrift(t, db); d != "" {
			t.Fatal(d)
		}
	})
}
