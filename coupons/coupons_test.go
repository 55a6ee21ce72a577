package coupons_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func setup(t testing.TB) (*store.DB, *coupons.Service) {
	return service(storetest.Open(t))
}

func service(db *store.DB) (*store.DB, *coupons.Service) {
	return db, coupons.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func addSubscribers(t testing.TB, db *store.DB, n int) {
	err := db.Tx(context.Background(), func(tx *store.Tx) error {
		for i := range n {
			if _, err := tx.ExecContext(context.Background(), `INSERT INTO subscribers (email, email_key, status, created_at, updated_at)
				VALUES (?, ?, 'active', 0, 0)`, fmt.Sprintf("u%d@x.de", i), fmt.Sprintf("u%d@x.de", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPoolLifecycle(t *testing.T) { storetest.Each(t, testPoolLifecycle) }

func testPoolLifecycle(t *testing.T, db *store.DB) {
	db, s := service(db)
	ctx := context.Background()
	if _, err := s.CreatePool(ctx, "spring", "Frühling"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePool(ctx, "spring", "again"); !errs.Is(err, errs.Conflict) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := s.CreatePool(ctx, "Bad Slug", "x"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("bad slug: %v", err)
	}
	n, err := s.AddCodes(ctx, "spring", []string{"A1", "A2", "A1"})
	if err != nil || n != 2 {
		t.Fatalf("AddCodes = %d, %v", n, err)
	}
	_, err = s.AddCodes(ctx, "spring", []string{"ok", "has space"})
	if e, ok := errs.As(err); !ok || e.Field != "codes[1]" {
		t.Fatalf("bad code: %v", err)
	}
	if _, err := s.AddCodes(ctx, "nope", []string{"x"}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown pool: %v", err)
	}
	n, err = s.ImportCSV(ctx, "spring", strings.NewReader("code\nB1\n\n\"B2\",extra\nA1\n"))
	if err != nil || n != 2 {
		t.Fatalf("ImportCSV = %d, %v", n, err)
	}
	n, err = s.Generate(ctx, "spring", "SPRING-XXXX-XXXX", 50)
	if err != nil || n != 50 {
		t.Fatalf("Generate = %d, %v", n, err)
	}
	if _, err := s.Generate(ctx, "spring", "SPR-XX", 5); !errs.Is(err, errs.Invalid) {
		t.Fatalf("weak pattern: %v", err)
	}
	addSubscribers(t, db, 1)
	err = db.Tx(ctx, func(tx *store.Tx) error {
		c, err := coupons.Assign(ctx, tx, "spring", 1)
		if c != "A1" {
			t.Errorf("first code = %q", c)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Get(ctx, "spring")
	if err != nil || p.Total != 54 || p.Assigned != 1 {
		t.Fatalf("pool = %+v, %v", p, err)
	}
}

func TestAssignDistinctUnderConcurrencyAndRollback(t *testing.T) {
	storetest.Each(t, testAssignDistinctUnderConcurrencyAndRollback)
}

func testAssignDistinctUnderConcurrencyAndRollback(t *testing.T, db *store.DB) {
	db, s := service(db)
	ctx := context.Background()
	s.CreatePool(ctx, "p", "P")
	codes := make([]string, 100)
	for i := range codes {
		codes[i] = fmt.Sprintf("C%03d", i)
	}
	s.AddCodes(ctx, "p", codes)
	addSubscribers(t, db, 120)

	// A transaction that fails after Assign (a crash before commit) gives nothing away.
	boom := errors.New("crash")
	if err := db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := coupons.Assign(ctx, tx, "p", 1); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}

	var mu sync.Mutex
	got := map[string]bool{}
	empty := 0
	var wg sync.WaitGroup
	for i := range 120 {
		wg.Go(func() {
			var code string
			err := db.Tx(ctx, func(tx *store.Tx) error {
				var err error
				if i%2 == 0 { // both forms: the package function and the prepared method
					code, err = coupons.Assign(ctx, tx, "p", int64(i+1))
				} else {
					code, err = s.Assign(ctx, tx, "p", int64(i+1))
				}
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, coupons.ErrEmpty):
				empty++
			case err != nil:
				t.Error(err)
			case got[code]:
				t.Errorf("code %s given twice", code)
			default:
				got[code] = true
			}
		})
	}
	wg.Wait()
	if len(got) != 100 || empty != 20 {
		t.Fatalf("distinct codes %d, empty %d; want 100, 20", len(got), empty)
	}
	if err := db.Tx(ctx, func(tx *store.Tx) error {
		_, err := coupons.Assign(ctx, tx, "missing", 1)
		return err
	}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown pool: %v", err)
	}
	if err := db.Tx(ctx, func(tx *store.Tx) error {
		_, err := s.Assign(ctx, tx, "missing", 1)
		return err
	}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown pool (prepared): %v", err)
	}
}

func FuzzImportCSV(f *testing.F) {
	f.Add("code\nA\nB,c\n")
	f.Add("\"unterminated\n")
	f.Add("\ufeffX1\r\nX2\r\n")
	db, s := setup(f)
	_ = db
	s.CreatePool(context.Background(), "f", "F")
	f.Fuzz(func(t *testing.T, in string) {
		_, err := s.ImportCSV(context.Background(), "f", strings.NewReader(in))
		if err != nil {
			if _, ok := errs.As(err); !ok {
				t.Fatalf("untyped error %v", err)
			}
		}
	})
}
