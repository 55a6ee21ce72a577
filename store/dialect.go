package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// Dialect is the SQL engine under a DB: SQLite (the default, one file in the
// data folder) or PostgreSQL (--database postgres://..., for several instances).
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// IsPostgresURL reports whether dsn names a PostgreSQL database rather than
// a SQLite file: it starts with postgres:// or postgresql://.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Dialect is the engine this DB runs on.
func (db *DB) Dialect() Dialect { return db.dialect }

// Pick returns sqlite on SQLite and pg on PostgreSQL. Where the two dialects
// differ, the owning package keeps both statements side by side:
//
//	q := db.Pick(`... json_each(?) ...`, `... jsonb_array_elements_text(?::jsonb) ...`)
//
// Both may use ? placeholders; see Rebind.
func (db *DB) Pick(sqlite, pg string) string {
	if db.dialect == Postgres {
		return pg
	}
	return sqlite
}

// Pick is DB.Pick for code that holds only the transaction.
func (tx *Tx) Pick(sqlite, pg string) string { return tx.db.Pick(sqlite, pg) }

// Dialect is the engine of the transaction's DB.
func (tx *Tx) Dialect() Dialect { return tx.db.dialect }

// Rebind turns the ? placeholders of q into PostgreSQL's $1, $2, ... on
// PostgreSQL and returns q unchanged on SQLite. Every query method of DB and
// Tx calls it, so a statement both engines understand is written once, with
// ?. SQLite's numbered ?NNN becomes $NNN, and a bare ? after it is numbered
// as SQLite numbers it (the largest so far, plus one). A ? inside a string
// literal, a quoted identifier or a comment is left alone, and so is a
// statement that already numbers its parameters ($1): that is how a
// PostgreSQL statement uses the jsonb ? operator.
func (db *DB) Rebind(q string) string {
	if db.dialect != Postgres {
		return q
	}
	return rebind(q)
}

func rebind(q string) string {
	if !strings.Contains(q, "?") || numbered(q) {
		return q // nothing to number, or the author numbered it ($n) already
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0 // the largest parameter number so far
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"': // literal or quoted identifier; '' and "" escape themselves
			j := i + 1
			for j < len(q) && q[j] != c {
				j++
			}
			b.WriteString(q[i:min(j+1, len(q))])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j - 1
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			end := len(q)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(q[i:end])
			i = end - 1
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			b.WriteByte('$')
			if j == i+1 {
				n++
				b.WriteString(strconv.Itoa(n))
				break
			}
			// A number past PostgreSQL's 65,535 parameters is no parameter
			// either engine takes; it is copied as written but does not
			// move the count (nor overflow it).
			if k, err := strconv.Atoi(q[i+1 : j]); err == nil && k <= 65535 {
				n = max(n, k)
			}
			b.WriteString(q[i+1 : j])
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// The query methods below shadow those of the embedded *sql.DB and *sql.Tx,
// so every statement a package runs is rebound for PostgreSQL.

// QueryContext reads through the read pool.
func (db *DB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.DB.QueryContext(ctx, db.Rebind(q), args...)
}

// QueryRowContext reads one row through the read pool.
func (db *DB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return db.DB.QueryRowContext(ctx, db.Rebind(q), args...)
}

// ExecContext runs q on the read pool: on SQLite it is query_only, so a
// write fails loudly there; writes belong in Tx.
func (db *DB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.DB.ExecContext(ctx, db.Rebind(q), args...)
}

// ExecContext runs q in the transaction.
func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, tx.db.Rebind(q), args...)
}

// QueryContext runs q in the transaction.
func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.Tx.QueryContext(ctx, tx.db.Rebind(q), args...)
}

// QueryRowContext runs q in the transaction for one row.
func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, tx.db.Rebind(q), args...)
}

// PrepareContext prepares q in the transaction.
func (tx *Tx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return tx.Tx.PrepareContext(ctx, tx.db.Rebind(q))
}

// Lock holds the lock called name until the transaction ends. Take it before
// a read that decides a write, such as "is there another owner?" before
// demoting one: on SQLite the transaction runs alone anyway, so it costs
// nothing there; on PostgreSQL, where other instances' transactions run at
// the same time, it is a transaction-level advisory lock on the name's hash.
func (tx *Tx) Lock(ctx context.Context, name string) error {
	if tx.db.dialect != Postgres {
		return nil
	}
	if _, err := tx.Tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, name); err != nil {
		return fmt.Errorf("store: lock %s: %w", name, err)
	}
	return nil
}

// Query, QueryRow and Exec without a context: the same, rebound.

// Query reads through the read pool.
func (db *DB) Query(q string, args ...any) (*sql.Rows, error) {
	return db.QueryContext(context.Background(), q, args...)
}

// QueryRow reads one row through the read pool.
func (db *DB) QueryRow(q string, args ...any) *sql.Row {
	return db.QueryRowContext(context.Background(), q, args...)
}

// Exec runs q on the read pool (see ExecContext).
func (db *DB) Exec(q string, args ...any) (sql.Result, error) {
	return db.ExecContext(context.Background(), q, args...)
}

// Exec runs q in the transaction.
func (tx *Tx) Exec(q string, args ...any) (sql.Result, error) {
	return tx.ExecContext(context.Background(), q, args...)
}

// Query runs q in the transaction.
func (tx *Tx) Query(q string, args ...any) (*sql.Rows, error) {
	return tx.QueryContext(context.Background(), q, args...)
}

// QueryRow runs q in the transaction for one row.
func (tx *Tx) QueryRow(q string, args ...any) *sql.Row {
	return tx.QueryRowContext(context.Background(), q, args...)
}

// numbered reports whether q holds a $n anywhere (also inside a literal or a
// quoted name: the statement is then left as written, as the doc promises,
// rather than half numbered by us).
func numbered(q string) bool {
	for i := 0; i+1 < len(q); i++ {
		if q[i] == '$' && q[i+1] >= '1' && q[i+1] <= '9' {
			return true
		}
	}
	return false
}
