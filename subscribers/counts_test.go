package subscribers

import (
	"context"
	"strings"
	"testing"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// TestSearchPrefix: a text search finds the start of the address or of the
// name in any case, by index whether few or many match, and takes % and _
// literally.
func TestSearchPrefix(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	err := db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < 3000)
			INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at)
			SELECT 'Kunde' || n || '@example.com', 'kunde' || n || '@example.com', 'Jörg Muster' || n, 'active', n, n FROM i`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    string
		want int
	}{
		{"KUNDE2999", 1}, {"kunde299", 11}, {"jörg muster2999", 1}, {"JÖRG", 0 /* SQLite folds ASCII only */},
		{"Jörg Muster1", 51}, {"kunde", 51}, {"muster", 0}, {"%", 0}, {"kunde_", 0}, {"  kunde3000 ", 1},
	} {
		got, err := Search(ctx, db, SearchFilter{Q: tc.q, Limit: 51})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Errorf("%q: %d found, want %d", tc.q, len(got), tc.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID >= got[i-1].ID {
				t.Fatalf("%q: not newest first", tc.q)
			}
		}
	}
}

// TestSearchPlans: no shape of the subscriber search sorts rows
// for a page; each walks an index in id order and stops at the page's end.
// That is what keeps a page fast at a million subscribers.
func TestSearchPlans(t *testing.T) {
	db := storetest.Open(t)
	for _, f := range []SearchFilter{
		{}, {Before: 100}, {Status: "active"}, {Q: "kim"}, {List: "newsletter"},
		{List: "newsletter", Status: "active", Q: "kim", Before: 100},
	} {
		q, args := searchQuery(f, false)
		rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if p := strings.Join(plan, "\n"); strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%+v sorts:\n%s", f, p)
		} else {
			t.Logf("%+v:\n%s", f, p)
		}
	}
}

// BenchmarkSearch pages through a million subscribers with each
// filter shape. Run: go test ./subscribers -run '^$' -bench Search
func BenchmarkSearch(b *testing.B) {
	db := storetest.Open(b)
	ctx := context.Background()
	const n = 1_000_000
	err := db.Tx(ctx, func(tx *store.Tx) error {
		// Every 20th is pending, every 10th unsubscribed; every 100th on "vip".
		if _, err := tx.ExecContext(ctx, `WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?)
			INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at)
			SELECT 'k' || n || '@example.com', 'k' || n || '@example.com', 'Kim ' || n,
				CASE WHEN n % 20 = 0 THEN 'pending' WHEN n % 10 = 0 THEN 'unsubscribed' ELSE 'active' END, n, n FROM i`, n); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO lists (slug, name, created_at) VALUES ('vip', 'VIP', 0)`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
			SELECT id, CASE WHEN id % 100 = 0 THEN (SELECT id FROM lists WHERE slug = 'vip') ELSE 1 END, 'active', 0, 0 FROM subscribers`)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    SearchFilter
	}{
		{"newest", SearchFilter{Limit: 51}},
		{"deep page", SearchFilter{Before: 500_000, Limit: 51}},
		{"status pending", SearchFilter{Status: "pending", Limit: 51}},
		{"list vip", SearchFilter{List: "vip", Before: 500_000, Limit: 51}},
		{"search hit", SearchFilter{Q: "kim 99", Limit: 51}},
		{"search miss", SearchFilter{Q: "nobody", Limit: 51}},
		{"search one address", SearchFilter{Q: "k777777", Limit: 51}},
		{"search dense prefix", SearchFilter{Q: "k", Limit: 51}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Search(ctx, db, tc.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
