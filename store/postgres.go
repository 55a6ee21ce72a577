package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

//go:embed migrations/postgres/*.sql
var pgMigrations embed.FS

// migrateLockKey is the pg_advisory_lock key that serialises migrations:
// instances starting together wait for the first, which applies them once.
const migrateLockKey = 0x7472_6575_6d69_6772 // "treumigr"

// openPostgres opens PostgreSQL at url and applies migrations/postgres/.
// Unlike SQLite, PostgreSQL takes concurrent writers itself, so one pool
// serves reads and write transactions, and instances on other machines share it.
func openPostgres(ctx context.Context, url string) (*DB, error) {
	p, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	p.SetMaxOpenConns(20)
	p.SetMaxIdleConns(10)
	p.SetConnMaxIdleTime(5 * time.Minute)
	if err := p.PingContext(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	db := &DB{DB: p, w: p, dialect: Postgres, Now: time.Now}
	if err := db.migratePostgres(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return db, nil
}

// migratePostgres applies the PostgreSQL migrations not yet recorded, each in
// its own transaction, holding a session advisory lock on one connection for
// the whole run.
func (db *DB) migratePostgres(ctx context.Context) error {
	c, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockKey)); err != nil {
		return fmt.Errorf("store: migrate: lock: %w", err)
	}
	// Unlock even when ctx is cancelled: the connection goes back to the pool.
	defer c.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLockKey))
	if _, err := c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(pgMigrations, "migrations/postgres/*.sql")
	if err != nil {
		return fmt.Errorf("store: list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/postgres/")
		body, err := pgMigrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("store: read %s: %w", base, err)
		}
		if err := applyPostgres(ctx, c, base, string(body), db.Now().UTC()); err != nil {
			return fmt.Errorf("store: migration postgres/%s: %w", base, err)
		}
	}
	return nil
}

func applyPostgres(ctx context.Context, c *sql.Conn, name, body string, now time.Time) error {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var done int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = $1`, name).Scan(&done); err != nil {
		return err
	}
	if done > 0 {
		return nil
	}
	// Without arguments pgx sends the file with the simple protocol, which
	// runs several statements (and plpgsql bodies) in one call.
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`, name, now.Unix()); err != nil {
		return err
	}
	return tx.Commit()
}
