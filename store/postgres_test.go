package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"sync"
	"testing"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/pgtest"
	"github.com/treu-mail/treu/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// Three instances starting together on an empty database: the advisory lock
// lets one apply the migrations; the others wait and find them applied.
func TestPostgresInstancesMigrateOnce(t *testing.T) {
	if pgtest.Off() {
		t.Skip("TREU_PG=off")
	}
	ctx := context.Background()
	u := pgtest.NewDatabase(t, false)
	dbs := make([]*store.DB, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = store.Open(ctx, u) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	var applied, distinct, lists int
	if err := dbs[0].QueryRowContext(ctx, `SELECT count(*), count(DISTINCT name) FROM schema_migrations`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir("migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(files) || distinct != len(files) {
		t.Fatalf("schema_migrations: %d rows, %d names; want %d each", applied, distinct, len(files))
	}
	// 0001 seeds the newsletter list: seeded twice would mean applied twice.
	if err := dbs[2].QueryRowContext(ctx, `SELECT count(*) FROM lists WHERE slug = ?`, "newsletter").Scan(&lists); err != nil {
		t.Fatal(err)
	}
	if lists != 1 {
		t.Fatalf("newsletter lists = %d, want 1", lists)
	}
	for _, db := range dbs {
		if db.Dialect() != store.Postgres {
			t.Fatalf("dialect = %v", db.Dialect())
		}
	}
}

// What the migrations give both engines alike: the sha256 function, the
// segment_attrs triggers, unique violations recognised, ? rebound.
func TestDialectsAgree(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var h string
		if err := db.QueryRowContext(ctx, `SELECT `+store.SHA256HexFunc+`(?)`, "kim@example.com").Scan(&h); err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256([]byte("kim@example.com")); h != hex.EncodeToString(sum[:]) {
			t.Fatalf("sha256 = %q", h)
		}
		var id int64
		err := db.Tx(ctx, func(tx *store.Tx) error {
			return tx.QueryRowContext(ctx, `INSERT INTO subscribers (email, email_key, status, attributes, created_at, updated_at)
				VALUES (?, ?, 'active', ?, ?, ?) RETURNING id`,
				"Kim@example.com", "kim@example.com", `{"city":"Berlin","vip":true,"n":3,"x":2.5,"tags":["a"],"none":null}`, tx.Now.Unix(), tx.Now.Unix()).Scan(&id)
		})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.QueryContext(ctx, `SELECT key, kind FROM segment_attrs WHERE subscriber_id = ? ORDER BY key`, id)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for rows.Next() {
			var k, kind string
			if err := rows.Scan(&k, &kind); err != nil {
				t.Fatal(err)
			}
			got += k + ":" + kind + " "
		}
		rows.Close()
		if want := "city:text n:integer tags:array vip:true x:real "; got != want {
			t.Fatalf("segment_attrs = %q, want %q", got, want)
		}
		err = db.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO subscribers (email, email_key, status, created_at, updated_at) VALUES (?, ?, 'active', 0, 0)`,
				"kim@example.com", "kim@example.com")
			return err
		})
		if !store.IsUniqueViolation(err) {
			t.Fatalf("repeated email_key: %v, want a unique violation", err)
		}
		// The doc's translations: a JSONInts argument, jsonb ->> , lower().
		q := db.Pick(`SELECT count(*) FROM subscribers WHERE id IN (SELECT value FROM json_each(?)) AND json_extract(attributes, '$.city') = ?`,
			`SELECT count(*) FROM subscribers WHERE id IN (SELECT value::bigint FROM jsonb_array_elements_text(?::jsonb)) AND attributes->>'city' = ?`)
		var n int
		if err := db.QueryRowContext(ctx, q, store.JSONInts([]int64{id, id + 1}), "Berlin").Scan(&n); err != nil || n != 1 {
			t.Fatalf("json ids and attribute: %d, %v", n, err)
		}
		q = db.Pick(`SELECT count(*) FROM segment_attrs WHERE key = 'n' AND kind = 'integer' AND value > ?
			UNION ALL SELECT count(*) FROM segment_attrs WHERE key = 'city' AND kind = 'text' AND value = ?`,
			`SELECT count(*) FROM segment_attrs WHERE key = 'n' AND kind = 'integer' AND value > to_jsonb(?::numeric)
			UNION ALL SELECT count(*) FROM segment_attrs WHERE key = 'city' AND kind = 'text' AND value = to_jsonb(?::text)`)
		rows, err = db.QueryContext(ctx, q, 2, "Berlin")
		if err != nil {
			t.Fatal(err)
		}
		var counts []int
		for rows.Next() {
			var c int
			rows.Scan(&c)
			counts = append(counts, c)
		}
		rows.Close()
		if len(counts) != 2 || counts[0] != 1 || counts[1] != 1 {
			t.Fatalf("segment_attrs comparisons = %v, want [1 1]", counts)
		}
		// A literal with ? and a comment with ? stay as they are.
		var s string
		if err := db.QueryRowContext(ctx, `SELECT '?' || ? -- why?`, "x").Scan(&s); err != nil || s != "?x" {
			t.Fatalf("literal ? = %q, %v", s, err)
		}
	})
}

// Every SQLite migration has its PostgreSQL twin: the same tables, columns,
// named indexes and triggers, so one set of domain code reads both.
func TestSchemasAgree(t *testing.T) {
	if pgtest.Off() {
		t.Skip("TREU_PG=off")
	}
	ctx := context.Background()
	list := func(db *store.DB, q string) map[string]bool {
		t.Helper()
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out[s] = true
		}
		return out
	}
	lite, pg := storetest.Open(t), pgtest.Open(t)
	for _, c := range []struct{ what, sqlite, postgres string }{
		{"columns",
			`SELECT m.name || '.' || c.name FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`,
			`SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = 'public'`},
		{"indexes",
			`SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`,
			`SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT IN (SELECT conname FROM pg_constraint)`},
		{"triggers",
			`SELECT name FROM sqlite_master WHERE type = 'trigger'`,
			`SELECT DISTINCT trigger_name FROM information_schema.triggers WHERE trigger_schema = 'public'`},
	} {
		a, b := list(lite, c.sqlite), list(pg, c.postgres)
		for k := range a {
			if !b[k] {
				t.Errorf("%s: %s is in SQLite's schema, not in PostgreSQL's (store/migrations/postgres)", c.what, k)
			}
		}
		for k := range b {
			if !a[k] {
				t.Errorf("%s: %s is in PostgreSQL's schema, not in SQLite's", c.what, k)
			}
		}
	}
}
