package audit

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Actor kinds.
const (
	KindUser   = "user"   // a UI user; ID is users.id
	KindToken  = "token"  // an API token; ID is api_tokens.id
	KindCLI    = "cli"    // an admin command on the server
	KindSystem = "system" // Treu itself, e.g. the scheduler
)

// Actor is who acts: its name is copied into each entry as it is now.
type Actor struct {
	Kind string `json:"kind"`
	ID   int64  `json:"id,omitempty"`
	Name string `json:"name"`
	IP   string `json:"ip,omitempty"`
}

type actorKey struct{}

// WithActor returns ctx carrying who acts in it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx, or the system when there is none.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Kind: KindSystem, Name: "treu"}
}

// Entry is one line of the log.
type Entry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  Actor     `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Log writes and reads the audit log.
type Log struct {
	db *store.DB
}

// New returns the Log on db.
func New(db *store.DB) *Log { return &Log{db: db} }

const maxDetail = 1000

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Record appends what the actor in ctx did: action is a dotted name such as
// "campaign.start", target names the object ("campaign 12"), detail anything
// a reader needs (never a subscriber's address).
func (l *Log) Record(ctx context.Context, action, target, detail string) error {
	return l.db.Tx(ctx, func(tx *store.Tx) error { return l.RecordTx(ctx, tx, action, target, detail) })
}

// RecordTx is Record inside the caller's transaction, so the entry and the
// change it describes commit together.
func (l *Log) RecordTx(ctx context.Context, tx *store.Tx, action, target, detail string) error {
	if action == "" || len(action) > 100 {
		return fmt.Errorf("audit: bad action %q", action)
	}
	a := ActorFrom(ctx)
	var id any
	if a.ID != 0 {
		id = a.ID
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor_kind, actor_id, actor, ip, action, target, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		tx.Now.Unix(), a.Kind, id, clip(a.Name, 300), clip(a.IP, 100), action, clip(target, 300), clip(strings.TrimSpace(detail), maxDetail))
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", action, err)
	}
	return nil
}

// MaxPage is the most entries one List call returns.
const MaxPage = 200

// List returns up to limit entries older than beforeID (0: from the newest),
// newest first. Pass the last ID of a page to get the next.
func (l *Log) List(ctx context.Context, beforeID int64, limit int) ([]Entry, error) {
	if limit <= 0 || limit > MaxPage {
		return nil, errs.Invalidf("limit", "limit must be 1 to %d", MaxPage)
	}
	if beforeID < 0 {
		return nil, errs.Invalidf("before", "before must be a positive id")
	}
	if beforeID == 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := l.db.QueryContext(ctx, `SELECT id, at, actor_kind, coalesce(actor_id, 0), actor, ip, action, target, detail
		FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?`, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor.Kind, &e.Actor.ID, &e.Actor.Name, &e.Actor.IP, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, fmt.Errorf("audit: list: %w", err)
		}
		e.At = time.Unix(at, 0).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return out, nil
}
