package subscribers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// The summary tables (subscriber_counts, list_counts, kept by the triggers of
// migration 0016) agree with a recount after every kind of write: inserts,
// status changes of subscribers and subscriptions, deletes with and without
// the cascade, a list created and deleted.
func TestSummaryCountsMatchRecount(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []string{"pending", "active", "unsubscribed"}
	exec := func(q string, args ...any) {
		t.Helper()
		if err := db.Tx(ctx, func(tx *store.Tx) error { _, err := tx.ExecContext(ctx, q, args...); return err }); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO lists (slug, name, created_at) VALUES ('vip', 'VIP', 0), ('gone', 'Gone', 0)`)
	check := func(step string) {
		t.Helper()
		got, err := CountByStatus(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		want, err := store.CountBy(ctx, db, `SELECT status, count(*) FROM subscribers GROUP BY status`)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range statuses {
			if got[st] != want[st] {
				t.Fatalf("%s: %s subscribers counted %d, really %d", step, st, got[st], want[st])
			}
		}
		rows, err := db.QueryContext(ctx, `SELECT l.slug, coalesce(c.listed, -1), coalesce(c.active, -1), coalesce(c.pending, -1),
			(SELECT count(*) FROM subscriptions su WHERE su.list_id = l.id AND su.status = 'active'),
			(SELECT count(*) FROM subscriptions su JOIN subscribers s ON s.id = su.subscriber_id WHERE su.list_id = l.id AND su.status = 'active' AND s.status = 'active'),
			(SELECT count(*) FROM subscriptions su WHERE su.list_id = l.id AND su.status = 'pending')
			FROM lists l LEFT JOIN list_counts c ON c.list_id = l.id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var slug string
			var g, w [3]int64
			if err := rows.Scan(&slug, &g[0], &g[1], &g[2], &w[0], &w[1], &w[2]); err != nil {
				t.Fatal(err)
			}
			if g != w {
				t.Fatalf("%s: list %s counted listed/active/pending %v, really %v", step, slug, g, w)
			}
		}
		var orphans int
		db.QueryRowContext(ctx, `SELECT count(*) FROM list_counts WHERE list_id NOT IN (SELECT id FROM lists)`).Scan(&orphans)
		if orphans != 0 {
			t.Fatalf("%s: %d counts of deleted lists", step, orphans)
		}
	}
	for i := range 400 {
		var step string
		switch op := rng.IntN(7); {
		case op <= 1:
			st := statuses[rng.IntN(3)]
			step = "insert " + st
			exec(`INSERT INTO subscribers (email, email_key, status, created_at, updated_at) VALUES (?1, ?1, ?2, 0, 0)`, fmt.Sprintf("p%d@example.com", i), st)
			exec(`INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
				SELECT last_insert_rowid(), id, ?, 0, 0 FROM lists WHERE id % 2 = ? OR slug = 'gone'`, statuses[rng.IntN(3)], rng.IntN(2))
		case op == 2:
			step = "subscriber status"
			exec(`UPDATE subscribers SET status = ? WHERE id = (SELECT id FROM subscribers ORDER BY random() LIMIT 1)`, statuses[rng.IntN(3)])
		case op == 3:
			step = "subscription status"
			exec(`UPDATE subscriptions SET status = ? WHERE (subscriber_id, list_id) = (SELECT subscriber_id, list_id FROM subscriptions ORDER BY random() LIMIT 1)`, statuses[rng.IntN(3)])
		case op == 4:
			step = "delete subscriber (cascade)"
			exec(`DELETE FROM subscribers WHERE id = (SELECT id FROM subscribers ORDER BY random() LIMIT 1)`)
		case op == 5:
			step = "delete subscriptions, then subscriber"
			exec(`DELETE FROM subscriptions WHERE subscriber_id = (SELECT max(id) FROM subscribers)`)
			exec(`DELETE FROM subscribers WHERE id = (SELECT max(id) FROM subscribers)`)
		default:
			step = "subscription added"
			exec(`INSERT OR IGNORE INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
				SELECT id, (SELECT id FROM lists WHERE slug = 'vip'), ?, 0, 0 FROM subscribers ORDER BY random() LIMIT 1`, statuses[rng.IntN(3)])
		}
		check(fmt.Sprintf("step %d (%s)", i, step))
		if i == 300 {
			exec(`DELETE FROM lists WHERE slug = 'gone'`)
			check("list deleted")
		}
	}
}
