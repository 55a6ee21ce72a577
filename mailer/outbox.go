package mailer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Outbox captures mail in the outbox table instead of sending it: the default
// when no SMTP server is configured, so a fresh install can be tried safely.
//
// Concurrent Sends are group-committed: while one transaction is being
// written, the Sends that arrive queue up and the next transaction writes
// them all. A campaign's workers thus share transactions instead of paying
// one commit per mail, and every Send still returns only once its mail is
// durable.
type Outbox struct {
	db  *store.DB
	log *slog.Logger

	mu       sync.Mutex
	pending  []*outboxItem
	flushing bool // a goroutine is writing; new items wait for it
}

type outboxItem struct {
	kind, recipient, subject string
	raw                      []byte
	done                     chan error
}

// maxOutboxBatch bounds one transaction, so a writer never holds the one
// write connection for long.
const maxOutboxBatch = 500

// NewOutbox captures into db.
func NewOutbox(db *store.DB, log *slog.Logger) *Outbox {
	return &Outbox{db: db, log: log}
}

// Send builds m and stores it.
func (o *Outbox) Send(ctx context.Context, m *Message) error {
	it, err := o.item(m)
	if err != nil {
		return err
	}
	o.mu.Lock()
	o.pending = append(o.pending, it)
	leader := !o.flushing
	o.flushing = true
	o.mu.Unlock()
	if leader {
		// The leader writes for everyone who queued meanwhile, so it must not
		// give up when its own caller does.
		o.flush(context.WithoutCancel(ctx))
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // the mail may still be stored
	}
}

// SendBatch stores many mails in one transaction: all or none.
func (o *Outbox) SendBatch(ctx context.Context, ms []*Message) error {
	items := make([]*outboxItem, 0, len(ms))
	for _, m := range ms {
		it, err := o.item(m)
		if err != nil {
			return err
		}
		items = append(items, it)
	}
	return o.write(ctx, items)
}

func (o *Outbox) item(m *Message) (*outboxItem, error) {
	raw, err := Build(m, o.db.Now())
	if err != nil {
		return nil, err
	}
	if m.ReturnPath != "" {
		// What the receiving server would add: shows where bounces would go.
		raw = append([]byte("Return-Path: <"+m.ReturnPath+">\r\n"), raw...)
	}
	return &outboxItem{kind: m.Kind, recipient: m.To, subject: m.Subject, raw: raw, done: make(chan error, 1)}, nil
}

func (o *Outbox) flush(ctx context.Context) {
	for {
		o.mu.Lock()
		n := min(len(o.pending), maxOutboxBatch)
		if n == 0 {
			o.flushing = false
			o.mu.Unlock()
			return
		}
		batch := o.pending[:n:n]
		o.pending = o.pending[n:]
		o.mu.Unlock()
		err := o.write(ctx, batch)
		for _, it := range batch {
			it.done <- err
		}
	}
}

func (o *Outbox) write(ctx context.Context, items []*outboxItem) error {
	err := o.db.Tx(ctx, func(tx *store.Tx) error {
		stmt, err := tx.PrepareContext(ctx,
			`INSERT INTO outbox (kind, recipient, subject, raw, created_at) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, it := range items {
			if _, err := stmt.ExecContext(ctx, it.kind, it.recipient, it.subject, it.raw, tx.Now.Unix()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mailer: outbox: %w", err)
	}
	return nil
}

// OutboxMail is one captured mail, as listed.
type OutboxMail struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Recipient string    `json:"recipient"`
	Subject   string    `json:"subject"`
	CreatedAt time.Time `json:"created_at"`
}

// OutboxMessage is one captured mail with its bytes and what they say.
type OutboxMessage struct {
	OutboxMail
	Raw    []byte  `json:"-"`
	Parsed *Parsed `json:"-"`
}

// List returns up to limit mails, newest first, older than beforeID
// (0: from the newest). Pass the last ID of a page to get the next.
func (o *Outbox) List(ctx context.Context, limit int, beforeID int64) ([]OutboxMail, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := o.db.QueryContext(ctx, `SELECT id, kind, recipient, subject, created_at
		FROM outbox WHERE id < ? ORDER BY id DESC LIMIT ?`, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("mailer: outbox list: %w", err)
	}
	defer rows.Close()
	var out []OutboxMail
	for rows.Next() {
		var m OutboxMail
		var created int64
		if err := rows.Scan(&m.ID, &m.Kind, &m.Recipient, &m.Subject, &created); err != nil {
			return nil, fmt.Errorf("mailer: outbox list: %w", err)
		}
		m.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mailer: outbox list: %w", err)
	}
	return out, nil
}

// Get returns one captured mail, raw and parsed.
func (o *Outbox) Get(ctx context.Context, id int64) (*OutboxMessage, error) {
	var m OutboxMessage
	var created int64
	err := o.db.QueryRowContext(ctx, `SELECT id, kind, recipient, subject, created_at, raw
		FROM outbox WHERE id = ?`, id).Scan(&m.ID, &m.Kind, &m.Recipient, &m.Subject, &created, &m.Raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.NotFoundf("outbox mail %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("mailer: outbox get %d: %w", id, err)
	}
	m.CreatedAt = time.Unix(created, 0).UTC()
	if m.Parsed, err = ParseMessage(m.Raw); err != nil {
		return nil, err
	}
	return &m, nil
}
