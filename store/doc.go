// Package store opens Treu's database, SQLite or PostgreSQL, and owns its
// schema.
//
// # SQLite (the default)
//
// Writes go through one connection (DB.Tx), so concurrent requests queue in Go
// instead of failing with SQLITE_BUSY; reads use a separate read-only pool that
// WAL lets run beside the writer. The schema lives only in migrations/, applied
// in order at Open and recorded by name. Domain packages own their queries.
//
// What the owning packages share: the one statement cache (stmts.go:
// DB.Prepare, Tx.ExecCached, Tx.QueryRowCached) for statements run per row in
// write transactions, GroupCommit for writes arriving together, JSONInts and
// JSONStrings for json_each parameters, and CountBy for "label, count" reads.
// The writer runs with secure_delete, and DB.Checkpoint truncates the WAL, so
// an erasure leaves no copy in the files.
//
// The database and its -wal and -shm files are created (or tightened at Open)
// with mode 0600 whatever the folder's mode or umask: they hold personal data.
//
// # PostgreSQL (issue 13: several instances on one database)
//
// Open with a postgres:// or postgresql:// URL opens PostgreSQL through pgx
// (database/sql, driver "pgx"; postgres.go). One pool serves reads and write
// transactions: PostgreSQL takes concurrent writers itself, so DB.Tx is no
// longer serialised, and instances on other machines write at the same time.
// The schema is migrations/postgres/, the same numbers and tables as
// migrations/ (its 0001 lists the translation rules: BIGINT identity ids,
// BIGINT Unix-second times, jsonb for validated JSON, citext, plpgsql for the
// segment_attrs and the count tables' triggers (0016's lock the subscriber's
// row, as instances write at once), the same partial indexes, a SQL
// treu_sha256_hex).
// A new SQLite migration gets its PostgreSQL twin under the same number.
// Migrations run under pg_advisory_lock, so instances starting together apply
// them once. Checkpoint does nothing there and Backup refuses (use pg_dump).
//
// # Writing SQL for both: the pattern
//
// Every query method of DB and Tx (QueryContext, QueryRowContext,
// ExecContext, PrepareContext and the Cached ones) rebinds ? to $1, $2, ... on
// PostgreSQL (Rebind; SQLite's numbered ?NNN too). Writer() is the raw pool
// and is not rebound: wrap its statements in db.Rebind. So a statement both
// engines understand stays as it is, written once with ?. Most do: plain SELECT/INSERT/UPDATE/DELETE, ON
// CONFLICT ... DO NOTHING or DO UPDATE SET x = excluded.x, RETURNING,
// coalesce, count(*).
//
// Where they differ, the owning package keeps both statements side by side,
// as constants named ...SQLite and ...Postgres, and picks one at run time with
// DB.Pick (or Tx.Pick); coupons.Assign is the worked example:
//
//	const (
//		assignSQLite   = `UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING code`
//		assignPostgres = `UPDATE ... WHERE id = (SELECT ... LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING code`
//	)
//	err := tx.QueryRowCached(ctx, tx.Pick(assignSQLite, assignPostgres), ...).Scan(&code)
//
// A PostgreSQL statement that needs the jsonb ? operator numbers its
// parameters itself ($1): a statement with $1 in it is not rebound.
//
// The package's tests run on both engines: once per package
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
//
// and per test storetest.Each(t, func(t *testing.T, db *store.DB) {...})
// (accounts, audit and coupons do; store/pgtest starts the throwaway cluster).
//
// The usual differences (SQLite → PostgreSQL):
//
//	x IN (SELECT value FROM json_each(?))  → x IN (SELECT value::bigint FROM jsonb_array_elements_text(?::jsonb))  (same JSONInts argument)
//	json_extract(attributes, '$.k')       → attributes->>'k'  (attributes is jsonb)
//	json_each(c.lists)                    → jsonb_array_elements_text(c.lists)
//	segment_attrs.value (untyped)         → jsonb scalar: value = to_jsonb(?::text), value > to_jsonb(?::numeric)
//	recipient = ? COLLATE NOCASE          → lower(recipient) = lower(?)  (the index is on lower(recipient))
//	INSERT OR IGNORE                      → INSERT ... ON CONFLICT DO NOTHING  (works on both: prefer it)
//	claims: UPDATE ... WHERE id IN (SELECT ... LIMIT n)
//	                                      → ... LIMIT n FOR UPDATE SKIP LOCKED
//	bool arguments                        → pass 0/1: flag columns stay integers on both
//	SELECT EXISTS (...) scanned into int  → scan into bool (PostgreSQL answers a boolean; SQLite's 1 scans into bool too)
//	ON CONFLICT DO UPDATE SET a = a + 1   → INSERT INTO t AS r ... SET a = r.a + 1  (a bare column is ambiguous there; the alias works on both)
//
// And one difference of behaviour, not syntax: on SQLite a write transaction
// runs alone, so read-then-write inside one Tx is safe; on PostgreSQL it is
// READ COMMITTED beside other instances' transactions. A read that decides a
// write takes a lock first: Tx.Lock(ctx, "pkg.what") (an advisory lock on
// PostgreSQL, nothing on SQLite; accounts' last-owner check), or SELECT ...
// FOR UPDATE, a conditional UPDATE, ON CONFLICT; claims use leases as they
// already do.
//
// IsUniqueViolation recognises both engines' unique errors.
//
// Ported so far (cmd/treu/database.go, portedToPostgres): accounts, audit,
// coupons. serve refuses a postgres:// --database until every package is.
package store
