package segments

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Segment is a named, saved rule. It stores the rule, never its members:
// the audience is computed when a campaign or flow sends.
type Segment struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Rule      Rule      `json:"rule"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Store keeps segments in the segments table.
type Store struct {
	db  *store.DB
	log *slog.Logger
}

// NewStore returns a Store over db.
func NewStore(db *store.DB, log *slog.Logger) *Store {
	return &Store{db: db, log: log}
}

const maxName = 200

func checkSegment(name string, rule Rule) (string, []byte, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxName || !utf8.ValidString(name) {
		return "", nil, errs.Invalidf("name", "name must be 1 to %d characters", maxName)
	}
	// A Rule made in Go has not been through Parse; check it the same way.
	if _, _, err := rule.compile(zeroTime); err != nil {
		return "", nil, err
	}
	raw, err := json.Marshal(rule)
	if err != nil {
		return "", nil, fmt.Errorf("segments: encode rule: %w", err)
	}
	return name, raw, nil
}

// Create saves a new segment. A name already in use is errs.Conflict.
func (st *Store) Create(ctx context.Context, name string, rule Rule) (Segment, error) {
	name, raw, err := checkSegment(name, rule)
	if err != nil {
		return Segment{}, err
	}
	var seg Segment
	err = st.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO segments (name, rule, created_at, updated_at) VALUES (?, ?, ?, ?)`,
			name, string(raw), tx.Now.Unix(), tx.Now.Unix())
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		seg = Segment{ID: id, Name: name, Rule: rule, CreatedAt: tx.Now.Truncate(time.Second), UpdatedAt: tx.Now.Truncate(time.Second)}
		return err
	})
	if store.IsUniqueViolation(err) {
		return Segment{}, errs.Conflictf("a segment named %q exists already", name)
	}
	if err != nil {
		return Segment{}, fmt.Errorf("segments: create: %w", err)
	}
	st.log.Info("segment created", "segment_id", seg.ID)
	return seg, nil
}

const selectSegment = `SELECT id, name, rule, created_at, updated_at FROM segments`

func scanSegment(row interface{ Scan(...any) error }) (Segment, error) {
	var (
		seg     Segment
		raw     string
		cr, upd int64
		err     error
	)
	if err = row.Scan(&seg.ID, &seg.Name, &raw, &cr, &upd); err != nil {
		return Segment{}, err
	}
	// Parse, not plain decoding: a stored rule is checked like any other input,
	// and an older rule that no longer passes fails loudly here.
	if seg.Rule, err = Parse([]byte(raw)); err != nil {
		return Segment{}, fmt.Errorf("segments: stored rule of segment %d: %w", seg.ID, err)
	}
	seg.CreatedAt, seg.UpdatedAt = time.Unix(cr, 0).UTC(), time.Unix(upd, 0).UTC()
	return seg, nil
}

// Get returns one segment, or errs.NotFound.
func (st *Store) Get(ctx context.Context, id int64) (Segment, error) {
	seg, err := scanSegment(st.db.QueryRowContext(ctx, selectSegment+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Segment{}, errs.NotFoundf("segment %d", id)
	}
	if err != nil {
		return Segment{}, fmt.Errorf("segments: get %d: %w", id, err)
	}
	return seg, nil
}

// List returns all segments by name. Segments are few (tens), so no paging.
func (st *Store) List(ctx context.Context) ([]Segment, error) {
	rows, err := st.db.QueryContext(ctx, selectSegment+` ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("segments: list: %w", err)
	}
	defer rows.Close()
	var out []Segment
	for rows.Next() {
		seg, err := scanSegment(rows)
		if err != nil {
			return nil, fmt.Errorf("segments: list: %w", err)
		}
		out = append(out, seg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("segments: list: %w", err)
	}
	return out, nil
}

// Update replaces a segment's name and rule. Campaigns that use the segment
// see the new rule at their next send, since segments are evaluated then.
func (st *Store) Update(ctx context.Context, id int64, name string, rule Rule) (Segment, error) {
	name, raw, err := checkSegment(name, rule)
	if err != nil {
		return Segment{}, err
	}
	var seg Segment
	err = st.db.Tx(ctx, func(tx *store.Tx) error {
		var cr int64
		err := tx.QueryRowContext(ctx, `UPDATE segments SET name = ?, rule = ?, updated_at = ? WHERE id = ? RETURNING created_at`,
			name, string(raw), tx.Now.Unix(), id).Scan(&cr)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.NotFoundf("segment %d", id)
		}
		seg = Segment{ID: id, Name: name, Rule: rule, CreatedAt: time.Unix(cr, 0).UTC(), UpdatedAt: tx.Now.Truncate(time.Second)}
		return err
	})
	if store.IsUniqueViolation(err) {
		return Segment{}, errs.Conflictf("a segment named %q exists already", name)
	}
	if errs.Is(err, errs.NotFound) {
		return Segment{}, err
	}
	if err != nil {
		return Segment{}, fmt.Errorf("segments: update %d: %w", id, err)
	}
	st.log.Info("segment updated", "segment_id", id)
	return seg, nil
}

// Delete removes a segment, or returns errs.NotFound. A segment still in use
// is errs.Conflict: campaigns and the offers flow refer to segments without a
// foreign key, so deleting one that a flow or an unfinished campaign sends
// with would leave them without an audience. The check runs in the deleting
// transaction, so no campaign or flow can take the segment up in between.
func (st *Store) Delete(ctx context.Context, id int64) error {
	err := st.db.Tx(ctx, func(tx *store.Tx) error {
		users, err := segmentUsers(ctx, tx, id)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return errs.Conflictf("segment %d is still used by %s; change them first", id, strings.Join(users, ", "))
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM segments WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errs.NotFoundf("segment %d", id)
		}
		return nil
	})
	if errs.Is(err, errs.NotFound) || errs.Is(err, errs.Conflict) {
		return err
	}
	if err != nil {
		return fmt.Errorf("segments: delete %d: %w", id, err)
	}
	st.log.Info("segment deleted", "segment_id", id)
	return nil
}

// segmentUsers names (up to 10) the flows and the campaigns not yet finished
// or cancelled that send with segment id.
func segmentUsers(ctx context.Context, tx *store.Tx, id int64) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT 'flow', slug FROM flows WHERE segment_id = ?
		UNION ALL SELECT 'campaign', name FROM campaigns WHERE segment_id = ? AND status NOT IN ('finished', 'cancelled')
		LIMIT 10`, id, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kind, name string
		if err := rows.Scan(&kind, &name); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%s %q", kind, name))
	}
	return out, rows.Err()
}

// Count counts the segment's audience on lists (none: any list) now, by the
// database clock.
func (st *Store) Count(ctx context.Context, id int64, lists []string) (int, error) {
	seg, err := st.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	return Count(ctx, st.db, &seg.Rule, lists, st.db.Now())
}
