package campaigns

import (
	"testing"
	"time"

	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/store/storetest"
)

func TestTmpPlan(t *testing.T) {
	db := storetest.Open(t)
	w, args, _ := segments.AudienceWhere(nil, []string{"newsletter"}, time.Now())
	rows, err := db.Query(`EXPLAIN QUERY PLAN SELECT 1, s.id FROM subscribers s WHERE `+w+` ORDER BY s.id`, args...)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, b, c int
		var d string
		rows.Scan(&a, &b, &c, &d)
		t.Log(d)
	}
	rows.Close()
}

func TestTmpSnap(t *testing.T) {
	db := storetest.Open(t)
	seedBulk(t, db, 20000)
	w, args, _ := segments.AudienceWhere(nil, []string{"newsletter"}, time.Now())
	t0 := time.Now()
	var n int
	db.QueryRow(`SELECT count(*) FROM subscribers s WHERE `+w, args...).Scan(&n)
	t.Log(n, time.Since(t0))
}

func TestTmpStart(t *testing.T) {
	db := storetest.Open(t)
	seedBulk(t, db, 20000)
	e := New(db, testConfig(), []Transport{nil}, fakeLinks{}, testLog())
	c, _ := e.Create(t.Context(), Input{Subject: "x", Markdown: "y"})
	w, args, _ := segments.AudienceWhere(nil, []string{"newsletter"}, time.Now())
	rows, _ := db.Query(`EXPLAIN QUERY PLAN INSERT INTO deliveries (campaign_id, subscriber_id) SELECT 1, s.id FROM subscribers s WHERE `+w+` ORDER BY s.id`, args...)
	for rows.Next() {
		var a, b, c int
		var d string
		rows.Scan(&a, &b, &c, &d)
		t.Log(d)
	}
	rows.Close()
	t0 := time.Now()
	_, err := e.Start(t.Context(), c.ID)
	t.Log(err, time.Since(t0))
}

func TestTmpVariants(t *testing.T) {
	db := storetest.Open(t)
	seedBulk(t, db, 20000)
	w, args, _ := segments.AudienceWhere(nil, []string{"newsletter"}, time.Now())
	for i, q := range []string{
		`SELECT count(*) FROM subscribers s WHERE ` + w,
		`SELECT count(*) FROM (SELECT s.id FROM subscribers s WHERE ` + w + ` ORDER BY s.id)`,
	} {
		for _, conn := range []string{"read", "write"} {
			d := db.DB
			if conn == "write" {
				d = db.Writer()
			}
			t0 := time.Now()
			var n int
			err := d.QueryRow(q, args...).Scan(&n)
			t.Log(i, conn, n, err, time.Since(t0))
		}
	}
	t0 := time.Now()
	_, err := db.Writer().Exec(`CREATE TEMP TABLE x AS SELECT s.id FROM subscribers s WHERE `+w, args...)
	t.Log("temp", err, time.Since(t0))
}
