package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

// LocalMonth agrees with Go's calendar in Berlin around the month starts and
// the summer time changes of two years, and is plain strftime in UTC.
func TestLocalMonth(t *testing.T) {
	db := storetest.Open(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no zone data:", err)
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
