package imports

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
	"github.com/treu-mail/treu/subscribers"
)

// noQueue: an import never mails; a message would be a bug.
type noQueue struct{}

func (noQueue) Enqueue(context.Context, *store.Tx, *subscribers.Message) (int64, error) {
	return 0, errors.New("an import queued a mail")
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     testing.TB
	ctx   context.Context
	db    *store.DB
	subs  *subscribers.Service
	svc   *Service
	clock *clock
	dir   string
}

func testLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSubs(t testing.TB, db *store.DB) *subscribers.Service {
	t.Helper()
	subs, err := subscribers.New(db, noQueue{}, subscribers.Config{BaseURL: "http://shop.test", From: "news@shop.test",
		ShopName: "Laden", Secret: []byte("0123456789abcdef0123456789abcdef")}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { subs.Close() })
	return subs
}

func newEnvAt(t testing.TB, db *store.DB, cfg Config) *env {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	db.Now = c.Now
	subs := newSubs(t, db)
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "imports")
	}
	svc, err := New(db, subs, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: context.Background(), db: db, subs: subs, svc: svc, clock: c, dir: cfg.Dir}
}

func newEnv(t testing.TB) *env { return newEnvAt(t, storetest.Open(t), Config{}) }

func (e *env) upload(name string, content []byte) Job {
	e.t.Helper()
	j, err := e.svc.Upload(e.ctx, 1, name, bytes.NewReader(content))
	if err != nil {
		e.t.Fatalf("upload %s: %v", name, err)
	}
	return j
}

// settings maps the usual test file: email, name, city.
func settingsFor(j Job) Settings {
	s := j.Settings
	s.Lists = []string{"newsletter"}
	s.Locale = "de"
	s.ConsentSource = "Bestellvorgang 2019-2024"
	s.ConsentText = "Ja, ich möchte den Newsletter erhalten."
	return s
}

func (e *env) checkAndRun(j Job) Job {
	e.t.Helper()
	j, err := e.svc.Check(e.ctx, j.ID, 1, settingsFor(j))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.Start(e.ctx, j.ID, 1); err != nil {
		e.t.Fatal(err)
	}
	if err := e.svc.Run(e.ctx, j.ID); err != nil {
		e.t.Fatal(err)
	}
	j, err = e.svc.Get(e.ctx, j.ID, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// people is a CSV file of n people with a few attributes, like a shop's export.
func people(n int, comma string) []byte {
	var b bytes.Buffer
	b.WriteString(strings.Join([]string{"email", "vorname", "nachname", "stadt", "kundennummer", "punkte"}, comma) + "\n")
	for i := range n {
		fmt.Fprintf(&b, "kunde%d@example.com%sKim%sMüller%sBerlin%s0%d%s%d\n", i, comma, comma, comma, comma, 10000+i, comma, i%500)
	}
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func zipped(files map[string][]byte) []byte {
	var out bytes.Buffer
	w := zip.NewWriter(&out)
	for name, b := range files {
		f, _ := w.Create(name)
		f.Write(b)
	}
	w.Close()
	return out.Bytes()
}

func cp1252(s string) []byte {
	b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return b
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRowContext(e.ctx, q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
