package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the database: a single-connection write pool and a read-only pool.
// The embedded *sql.DB is the read pool, so db.QueryContext reads.
type DB struct {
	*sql.DB         // read-only pool
	w       *sql.DB // the one writer
	path    string  // the SQLite file; "" on PostgreSQL
	dialect Dialect
	stmts   stmtCache // statements prepared on w (stmts.go)
	// Now is the clock every package reads through the store, so a test can fix time.
	Now func() time.Time
}

// Tx is a write transaction with the time it started.
type Tx struct {
	*sql.Tx
	// Now is fixed for the whole transaction: one transaction writes one time.
	Now time.Time

	db    *DB
	bound map[string]*sql.Stmt // prepared statements bound to this transaction
}

// Open opens (creating if needed) the database at path and applies migrations.
// The database and its -wal and -shm files are readable by their owner only.
// A path that is a postgres:// or postgresql:// URL opens PostgreSQL instead
// (postgres.go).
func Open(ctx context.Context, path string) (*DB, error) {
	if IsPostgresURL(path) {
		return openPostgres(ctx, path)
	}
	// foreign_keys: SQLite does not check foreign keys unless asked, per connection.
	// journal_mode WAL: readers do not block the writer and the writer does not block readers.
	// busy_timeout: a checkpoint or a backup may hold a lock briefly; wait instead of failing.
	// synchronous NORMAL: durable across process crashes in WAL mode; only an OS crash
	// may lose the last transactions, which is the usual trade for WAL.
	// temp_store MEMORY: statement journals and sorts stay off the disk.
	// _txlock=immediate: a transaction takes the write lock at BEGIN, so a read that
	// turns into a write can never fail with SQLITE_BUSY halfway.
	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	common := "_pragma=foreign_keys(1)&_pragma=temp_store(2)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_time_format=sqlite"
	// secure_delete (writer only; only it deletes): deleted rows and freed pages
	// are overwritten with zeros, so an erased person's address does not stay
	// in the file's free space (GDPR Art. 17; see Checkpoint for the WAL).
	w, err := sql.Open("sqlite", "file:"+pathEscape(path)+"?"+common+"&_pragma=journal_mode(WAL)&_pragma=secure_delete(1)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One writer connection: SQLite allows one writer at a time anyway, and queueing
	// in database/sql is cheaper and kinder than busy-waiting inside SQLite.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{w: w, path: path, Now: time.Now}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	// query_only: a write sent to the read pool by mistake fails loudly instead of
	// competing with the writer for the lock.
	r, err := sql.Open("sqlite", "file:"+pathEscape(path)+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.DB = r
	return db, nil
}

func pathEscape(p string) string {
	// The driver parses the DSN as a URL; keep '?' and '#' in a path from cutting it.
	return strings.NewReplacer("?", "%3F", "#", "%23").Replace(p)
}

// Close closes both pools.
func (db *DB) Close() error {
	db.closeStmts()
	if db.w == db.DB {
		return db.DB.Close() // PostgreSQL: one pool
	}
	return errors.Join(db.DB.Close(), db.w.Close())
}

// Path is the database file; "" on PostgreSQL.
func (db *DB) Path() string { return db.path }

// Tx runs fn in a write transaction and commits when fn returns nil.
// Write transactions are serialised on one connection; keep them short.
func (db *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	tx := &Tx{Tx: sqlTx, Now: db.Now().UTC(), db: db}
	defer sqlTx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Writer is the one writer connection's pool, for what cannot go through Tx:
// a backup, or a statement to prepare (see Prepare). Every write uses Tx.
func (db *DB) Writer() *sql.DB { return db.w }

// Backup writes a consistent copy of the database to path while it is in use.
func (db *DB) Backup(ctx context.Context, path string) error {
	if db.dialect == Postgres {
		return errors.New("store: backup: on PostgreSQL use pg_dump (or the provider's backups)")
	}
	// VACUUM INTO reads one snapshot and writes a compact copy. It runs on a
	// connection of its own: the read pool is query_only, and the writer must
	// stay free for requests while a large copy is written.
	c, err := sql.Open("sqlite", "file:"+pathEscape(db.path)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	return nil
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("store: list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("store: read %s: %w", base, err)
		}
		err = db.Tx(ctx, func(tx *Tx) error {
			var done int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, base).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, base, tx.Now.Unix())
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
	}
	return nil
}

// IsUniqueViolation reports whether err is a UNIQUE constraint failure, on
// either engine.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}
