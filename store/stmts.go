package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// Statements that run once per row inside write transactions (an enrollment,
// an event, a flow step) are prepared once on the writer and bound to each
// transaction once: with the pure-Go SQLite, parsing a statement costs about
// as much as running it. This is Treu's one statement cache; packages
// register their statements with Prepare (in a constructor, or lazily before
// their first transaction) and run them with Tx.ExecCached, Tx.QueryRowCached
// and Tx.QueryCached, which fall back to parsing per use for anything not prepared.
type stmtCache struct {
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

// Prepare prepares qs on the writer, once each. It must run outside a
// transaction of the calling goroutine: the writer has one connection, which
// a transaction holds. On an error the statements prepared so far stay, and
// the rest are parsed per use until a later Prepare succeeds.
func (db *DB) Prepare(ctx context.Context, qs ...string) error {
	if db.dialect == Postgres {
		// pgx prepares and caches each statement per connection by itself;
		// the Cached methods fall back to the (rebinding) plain ones.
		return nil
	}
	for _, q := range qs {
		db.stmts.mu.RLock()
		_, ok := db.stmts.m[q]
		db.stmts.mu.RUnlock()
		if ok {
			continue
		}
		// Not cancelled with a request: the statement outlives it.
		st, err := db.w.PrepareContext(context.WithoutCancel(ctx), q)
		if err != nil {
			return fmt.Errorf("store: prepare: %w", err)
		}
		db.stmts.mu.Lock()
		if db.stmts.m == nil {
			db.stmts.m = make(map[string]*sql.Stmt)
		}
		if _, ok := db.stmts.m[q]; ok {
			st.Close() // prepared meanwhile by another caller
		} else {
			db.stmts.m[q] = st
		}
		db.stmts.mu.Unlock()
	}
	return nil
}

// closeStmts releases the prepared statements.
func (db *DB) closeStmts() {
	db.stmts.mu.Lock()
	defer db.stmts.mu.Unlock()
	for _, st := range db.stmts.m {
		st.Close()
	}
	db.stmts.m = nil
}

// stmt is q bound to tx if it was prepared, else nil. Each statement is bound
// once per transaction, so a batch of a thousand rows binds it once.
func (tx *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if st, ok := tx.bound[q]; ok {
		return st
	}
	tx.db.stmts.mu.RLock()
	p := tx.db.stmts.m[q]
	tx.db.stmts.mu.RUnlock()
	if p == nil {
		return nil
	}
	if tx.bound == nil {
		tx.bound = make(map[string]*sql.Stmt)
	}
	st := tx.StmtContext(ctx, p)
	tx.bound[q] = st
	return st
}

// ExecCached runs q, prepared if Prepare prepared it.
func (tx *Tx) ExecCached(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := tx.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// QueryRowCached runs q for one row, prepared if Prepare prepared it.
func (tx *Tx) QueryRowCached(ctx context.Context, q string, args ...any) *sql.Row {
	if st := tx.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}

// QueryCached runs q, prepared if Prepare prepared it.
func (tx *Tx) QueryCached(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := tx.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, q, args...)
}
