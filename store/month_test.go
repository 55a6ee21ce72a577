package store_test

import (
	"context"
	"testing"
	"time"
	_ "time/tzdata" // the zone data on machines without it, as the binary has

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// LocalMonth agrees with Go's calendar in Berlin around the month starts and
// the summer time changes of two years, and is plain strftime in UTC.
func TestLocalMonth(t *testing.T) {
	db := storetest.Open(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal("zone data (embedded by time/tzdata):", err)
	}
	from, to := time.Date(2025, 1, 1, 0, 0, 0, 0, berlin), time.Date(2027, 1, 1, 0, 0, 0, 0, berlin)
	for _, loc := range []*time.Location{berlin, time.UTC} {
		expr := store.LocalMonth("?1", loc, from, to)
		for m := from; m.Before(to); m = m.AddDate(0, 1, 0) {
			start := time.Date(m.Year(), m.Month(), 1, 0, 0, 0, 0, loc)
			for _, ts := range []time.Time{start.Add(-time.Second), start, start.Add(15 * 24 * time.Hour)} {
				var got string
				if err := db.QueryRowContext(context.Background(), "SELECT "+expr, ts.Unix()).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if want := ts.In(loc).Format("2006-01"); got != want {
					t.Errorf("%s: month of %s = %s, want %s", loc, ts.In(loc), got, want)
				}
			}
		}
	}
}

// BenchmarkLocalMonth groups 1,000,000 times of a year by month, in UTC
// (plain strftime) and in Berlin (the CASE over the zone's changes): the
// price of the shop's calendar in the retention report's month queries.
//
//	go test ./store -run '^$' -bench LocalMonth -benchtime 3x
func BenchmarkLocalMonth(b *testing.B) {
	db := storetest.Open(b)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal("zone data (embedded by time/tzdata):", err)
	}
	from, to := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, loc := range []*time.Location{time.UTC, berlin} {
		b.Run(loc.String(), func(b *testing.B) {
			q := `WITH RECURSIVE t(x) AS (SELECT ?1 UNION ALL SELECT x + 31 FROM t WHERE x < ?1 + 31 * 999999)
				SELECT count(DISTINCT ` + store.LocalMonth("x", loc, from, to) + `) FROM t`
			for b.Loop() {
				var n int
				if err := db.QueryRowContext(context.Background(), q, from.Unix()).Scan(&n); err != nil {
					b.Fatal(err)
				}
				if n != 12 {
					b.Fatalf("%d months", n)
				}
			}
		})
	}
}
