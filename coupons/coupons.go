package coupons

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"regexp"
	"strings"
	"unicode"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// ErrEmpty is returned (wrapped) by Assign when the pool has no free code.
var ErrEmpty = errors.New("coupons: pool is empty")

// Limits.
const (
	MaxCodesPerCall = 100_000
	maxCodeLen      = 64
	// minRandom X's make a generated code unguessable enough (31^6 ≈ 8.9e8).
	minRandom = 6
)

// Pool is a coupon pool with its counts (GET /api/coupon-pools/{slug}).
type Pool struct {
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	Total    int64  `json:"total"`
	Assigned int64  `json:"assigned"`
}

// Service manages pools and codes.
type Service struct {
	db  *store.DB
	log *slog.Logger
}

// New returns a Service on db.
func New(db *store.DB, log *slog.Logger) *Service {
	// A flow assigns one code per mail, thousands in one tick: parsing the
	// UPDATE again for each costs more than running it.
	if err := db.Prepare(context.Background(), db.Pick(assignSQLite, assignPostgres)); err != nil {
		log.Warn("coupons: prepare assign; it will be parsed per code", slog.Any("error", err))
	}
	return &Service{db: db, log: log}
}

// Close is kept for callers; the store owns the prepared statement.
func (s *Service) Close() error { return nil }

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CreatePool creates an empty pool (POST /api/coupon-pools {"slug","name"}).
func (s *Service) CreatePool(ctx context.Context, slug, name string) (Pool, error) {
	if !slugRE.MatchString(slug) {
		return Pool{}, errs.Invalidf("slug", "slug must be lower-case letters, digits and dashes (at most 63)")
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return Pool{}, errs.Invalidf("name", "name is required (at most 200 bytes)")
	}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO coupon_pools (slug, name, created_at) VALUES (?, ?, ?)`, slug, name, tx.Now.Unix())
		return err
	})
	if store.IsUniqueViolation(err) {
		return Pool{}, errs.Conflictf("coupon pool %q exists", slug)
	}
	if err != nil {
		return Pool{}, fmt.Errorf("coupons: create %q: %w", slug, err)
	}
	return Pool{Slug: slug, Name: name}, nil
}

// Get returns the pool with its total and assigned counts.
func (s *Service) Get(ctx context.Context, slug string) (Pool, error) {
	p := Pool{Slug: slug}
	err := s.db.QueryRowContext(ctx, `SELECT p.name,
		(SELECT count(*) FROM coupon_codes c WHERE c.pool_id = p.id),
		(SELECT count(*) FROM coupon_codes c WHERE c.pool_id = p.id AND c.assigned_at IS NOT NULL)
		FROM coupon_pools p WHERE p.slug = ?`, slug).Scan(&p.Name, &p.Total, &p.Assigned)
	if errors.Is(err, sql.ErrNoRows) {
		return Pool{}, errs.NotFoundf("coupon pool %q", slug)
	}
	if err != nil {
		return Pool{}, fmt.Errorf("coupons: get %q: %w", slug, err)
	}
	return p, nil
}

// List returns all pools with their counts.
func (s *Service) List(ctx context.Context) ([]Pool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT p.slug, p.name,
		(SELECT count(*) FROM coupon_codes c WHERE c.pool_id = p.id),
		(SELECT count(*) FROM coupon_codes c WHERE c.pool_id = p.id AND c.assigned_at IS NOT NULL)
		FROM coupon_pools p ORDER BY p.slug`)
	if err != nil {
		return nil, fmt.Errorf("coupons: list: %w", err)
	}
	defer rows.Close()
	var out []Pool
	for rows.Next() {
		var p Pool
		if err := rows.Scan(&p.Slug, &p.Name, &p.Total, &p.Assigned); err != nil {
			return nil, fmt.Errorf("coupons: list: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Exists reports whether the pool exists (for validating a flow step).
func (s *Service) Exists(ctx context.Context, slug string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM coupon_pools WHERE slug = ?`, slug).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// AddCodes adds codes to the pool (POST /api/coupon-pools/{slug}/codes) in
// one transaction and returns how many were new; a code already in the pool
// is skipped. An invalid code rejects the whole call, naming codes[i].
func (s *Service) AddCodes(ctx context.Context, slug string, codes []string) (added int, err error) {
	if len(codes) > MaxCodesPerCall {
		return 0, errs.Invalidf("codes", "at most %d codes per call", MaxCodesPerCall)
	}
	for i, c := range codes {
		if err := checkCode(fmt.Sprintf("codes[%d]", i), c); err != nil {
			return 0, err
		}
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		poolID, err := poolID(ctx, tx, slug)
		if err != nil {
			return err
		}
		added, err = insertCodes(ctx, tx, poolID, codes)
		return err
	})
	return added, err
}

func poolID(ctx context.Context, tx *store.Tx, slug string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM coupon_pools WHERE slug = ?`, slug).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errs.NotFoundf("coupon pool %q", slug)
	}
	if err != nil {
		return 0, fmt.Errorf("coupons: pool %q: %w", slug, err)
	}
	return id, nil
}

func insertCodes(ctx context.Context, tx *store.Tx, poolID int64, codes []string) (int, error) {
	st, err := tx.PrepareContext(ctx, `INSERT INTO coupon_codes (pool_id, code, created_at) VALUES (?, ?, ?) ON CONFLICT (pool_id, code) DO NOTHING`)
	if err != nil {
		return 0, fmt.Errorf("coupons: add: %w", err)
	}
	defer st.Close()
	added := 0
	for _, c := range codes {
		res, err := st.ExecContext(ctx, poolID, c, tx.Now.Unix())
		if err != nil {
			return added, fmt.Errorf("coupons: add: %w", err)
		}
		n, _ := res.RowsAffected()
		added += int(n)
	}
	return added, nil
}

func checkCode(field, c string) error {
	if c == "" || len(c) > maxCodeLen {
		return errs.Invalidf(field, "%s must be 1 to %d characters", field, maxCodeLen)
	}
	for _, r := range c {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return errs.Invalidf(field, "%s must be printable ASCII without spaces", field)
		}
	}
	return nil
}

// ImportCSV adds the codes in the first column of a CSV file (a header row
// "code" is skipped; blank lines are ignored). Errors name the line.
func (s *Service) ImportCSV(ctx context.Context, slug string, r io.Reader) (added int, err error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	var codes []string
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, errs.Malformedf("csv", "CSV: %v", err)
		}
		if len(rec) == 0 {
			continue
		}
		c := strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff"))
		if c == "" || (line == 1 && strings.EqualFold(c, "code")) {
			continue
		}
		if err := checkCode(fmt.Sprintf("csv line %d", line), c); err != nil {
			return 0, err
		}
		if len(codes) == MaxCodesPerCall {
			return 0, errs.Invalidf("csv", "at most %d codes per import", MaxCodesPerCall)
		}
		codes = append(codes, c)
	}
	return s.AddCodes(ctx, slug, codes)
}

// alphabet for generated codes: no 0/O, 1/I/L that customers mistype.
const alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// Generate adds n new random codes made from pattern, where each X is a
// random character and everything else is literal ("SPRING-XXXX-XXXX").
func (s *Service) Generate(ctx context.Context, slug, pattern string, n int) (added int, err error) {
	if err := checkPattern(pattern); err != nil {
		return 0, err
	}
	if n < 1 || n > MaxCodesPerCall {
		return 0, errs.Invalidf("count", "count must be between 1 and %d", MaxCodesPerCall)
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		id, err := poolID(ctx, tx, slug)
		if err != nil {
			return err
		}
		// Collisions are rare with >= 6 random characters; try again for the
		// missing ones a few times rather than loop forever on a tiny pattern.
		for tries := 0; added < n && tries < 5; tries++ {
			codes := make([]string, n-added)
			for i := range codes {
				if codes[i], err = FromPattern(pattern); err != nil {
					return err
				}
			}
			k, err := insertCodes(ctx, tx, id, codes)
			if err != nil {
				return err
			}
			added += k
		}
		return nil
	})
	return added, err
}

func checkPattern(p string) error {
	if err := checkCode("pattern", p); err != nil {
		return err
	}
	if strings.Count(p, "X") < minRandom {
		return errs.Invalidf("pattern", "pattern needs at least %d X (random characters)", minRandom)
	}
	return nil
}

// FromPattern returns one code for pattern (each X random, crypto/rand).
func FromPattern(pattern string) (string, error) {
	b := []byte(pattern)
	max := big.NewInt(int64(len(alphabet)))
	for i, c := range b {
		if c != 'X' {
			continue
		}
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("coupons: random: %w", err)
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}

// assign takes the free code with the lowest id. On SQLite the one writer
// runs one transaction at a time; the outer assigned_at IS NULL re-check is
// the belt to those braces. On PostgreSQL instances assign at once: FOR
// UPDATE SKIP LOCKED makes each take a code no other open transaction holds,
// so they neither wait for each other nor hand out one code twice.
const (
	assignSQLite = `UPDATE coupon_codes SET subscriber_id = ?, assigned_at = ?
WHERE id = (SELECT id FROM coupon_codes WHERE pool_id = (SELECT id FROM coupon_pools WHERE slug = ?) AND assigned_at IS NULL ORDER BY id LIMIT 1)
  AND assigned_at IS NULL
RETURNING code`
	assignPostgres = `UPDATE coupon_codes SET subscriber_id = ?, assigned_at = ?
WHERE id = (SELECT id FROM coupon_codes WHERE pool_id = (SELECT id FROM coupon_pools WHERE slug = ?) AND assigned_at IS NULL ORDER BY id LIMIT 1
            FOR UPDATE SKIP LOCKED)
RETURNING code`
)

// Assign gives the subscriber one free code of the pool inside tx, the
// transaction that queues the mail with it. An empty pool is ErrEmpty; an
// unknown pool is errs.NotFound.
func Assign(ctx context.Context, tx *store.Tx, poolSlug string, subscriberID int64) (code string, err error) {
	for range 5 {
		err = tx.QueryRowCached(ctx, tx.Pick(assignSQLite, assignPostgres), subscriberID, tx.Now.Unix(), poolSlug).Scan(&code)
		if err == nil {
			return code, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("coupons: assign from %q: %w", poolSlug, err)
		}
		var free int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM coupon_codes c JOIN coupon_pools p ON p.id = c.pool_id
			WHERE p.slug = ? AND c.assigned_at IS NULL`, poolSlug).Scan(&free); err != nil {
			return "", fmt.Errorf("coupons: assign from %q: %w", poolSlug, err)
		}
		if free == 0 {
			if _, err := poolID(ctx, tx, poolSlug); err != nil {
				return "", err
			}
			return "", fmt.Errorf("%w: %q", ErrEmpty, poolSlug)
		}
	}
	return "", fmt.Errorf("%w: %q (contended)", ErrEmpty, poolSlug)
}

// Assign is the method form, for callers that hold a *Service.
func (s *Service) Assign(ctx context.Context, tx *store.Tx, poolSlug string, subscriberID int64) (string, error) {
	return Assign(ctx, tx, poolSlug, subscriberID)
}
