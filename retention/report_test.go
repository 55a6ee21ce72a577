package retention_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/treu-mail/treu/retention"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestReportByHand: the report's figures equal the ones worked out by hand
// below from a fixture of orders.
func TestReportByHand(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	ids := map[string]int64{}
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "p"} {
		ids[n] = e.subscriber(t, n+"@example.com")
	}
	// Answers first, so that every stage move below happens at the orders.
	for _, a := range []struct {
		who   string
		at    string
		score int
	}{{"a", "2026-02-20", 10}, {"b", "2026-02-20", 9}, {"c", "2026-02-21", 3}, {"f", "2026-01-15", 7}} {
		*e.now = date(a.at).Add(12 * time.Hour)
		if err := e.ret.Answer(ctx, ids[a.who], "", a.score); err != nil {
			t.Fatal(err)
		}
	}
	*e.now = date("2026-03-10")
	for i, o := range []struct {
		who   string
		at    string
		total float64
	}{
		{"a", "2026-01-10", 50}, {"a", "2026-02-05", 100},
		{"b", "2026-02-10", 40}, {"b", "2026-02-20", 60},
		{"c", "2026-02-15", 30},
		{"d", "2026-01-20", 80},
		{"e", "2026-01-25", 20}, {"e", "2026-03-05", 70},
		{"f", "2025-12-01", 10}, {"f", "2026-02-25", 90},
		{"guest", "2026-02-12", 500}, // not a subscriber: not a customer
	} {
		_, err := e.ev.Ingest(ctx, fmt.Appendf(nil, `{"type":"order.placed","id":"e%d","email":"%s@example.com","occurred_at":"%sT12:00:00Z",
			"order":{"id":"o%d","currency":"EUR","total":%g}}`, i, o.who, o.at, i, o.total))
		if err != nil {
			t.Fatal(err)
		}
	}
	count := func(ctx context.Context) (int64, error) {
		var n int64
		err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM subscribers`).Scan(&n)
		return n, err
	}

	// February 2026 (28 days); the period before is 2026-01-04 to 2026-02-01.
	r, err := e.ret.Report(ctx, date("2026-02-01"), date("2026-03-01"), count)
	if err != nil {
		t.Fatal(err)
	}
	// Customers in February: a, b, c, f. Orders: a 100; b 40, 60; c 30; f 90.
	// Repeat: a (one in January), b (two), f (one in December); c is not.
	// Active before: a, d, e; of them only a ordered in February.
	// Lifetime revenue of a, b, c, f up to March: 150 + 100 + 30 + 100 = 380.
	// Answers in February: 10, 9, 3 (f's 7 was in January): (2 - 1) / 3.
	want := map[string]float64{
		"customers": 4, "orders": 5, "revenue": 320,
		"repurchase_rate":     0.75,   // 3 / 4
		"churn_rate":          0.6667, // 2 / 3
		"aov":                 64,     // 320 / 5
		"orders_per_customer": 1.25,   // 5 / 4
		"clv":                 95,     // 380 / 4
		"clv_predicted":       120,    // 64 x 1.25 / (2/3)
		"nps":                 33.3,   // 100 x 1/3
		"nps_answers":         3,
	}
	got := map[string]float64{
		"customers": float64(r.Customers), "orders": float64(r.Orders), "revenue": r.Revenue,
		"repurchase_rate": r.RepurchaseRate, "churn_rate": r.ChurnRate, "aov": r.AOV,
		"orders_per_customer": r.OrdersPerCustomer, "clv": r.CLV, "nps": r.NPS, "nps_answers": float64(r.NPSAnswers),
	}
	if r.CLVPredicted != nil {
		got["clv_predicted"] = *r.CLVPredicted
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("figures\n got %v\nwant %v", got, want)
	}
	// Stages on 2026-03-10: a, b promoters (2 orders, 9-10); c, d one order;
	// e two orders in two months; f two orders, the last recent; p none.
	wantStages := map[string]int64{"prospect": 1, "first_time_buyer": 2, "repeat_buyer": 2, "regular": 0,
		"promoter": 2, "lapsing": 0, "lost": 0}
	if !reflect.DeepEqual(r.Stages, wantStages) {
		t.Errorf("stages %v, want %v", r.Stages, wantStages)
	}
	if len(r.Moves) != 0 {
		t.Errorf("moves in February %v: every move happened in March", r.Moves)
	}
	// February's first-time buyers: b and c; no later month in the period.
	if want := []retention.Cohort{{Month: "2026-02", Customers: 2, Returned: []float64{}}}; !reflect.DeepEqual(r.Cohorts, want) {
		t.Errorf("cohorts %+v, want %+v", r.Cohorts, want)
	}

	// January to March: cohorts January (a, d, e) and February (b, c).
	r, err = e.ret.Report(ctx, date("2026-01-01"), date("2026-04-01"), count)
	if err != nil {
		t.Fatal(err)
	}
	wantCohorts := []retention.Cohort{
		{Month: "2026-01", Customers: 3, Returned: []float64{0.3333, 0.3333}}, // a in February, e in March
		{Month: "2026-02", Customers: 2, Returned: []float64{0}},
	}
	if !reflect.DeepEqual(r.Cohorts, wantCohorts) {
		t.Errorf("cohorts %+v, want %+v", r.Cohorts, wantCohorts)
	}
	// Every order arrived on 2026-03-10: a, b, c, d, e entered as first-time
	// buyers (f's first order was already 99 days old: lapsing at once).
	var firstTime int64
	for _, m := range r.Moves {
		if m.Month != "2026-03" {
			t.Errorf("move %+v outside March", m)
		}
		if m.From == "prospect" && m.To == "first_time_buyer" {
			firstTime = m.Count
		}
	}
	if firstTime != 5 {
		t.Errorf("moves %+v: want 5 prospect → first_time_buyer", r.Moves)
	}

	// An empty period has zeros, not NaN.
	r, err = e.ret.Report(ctx, date("2020-01-01"), date("2020-02-01"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Customers != 0 || r.RepurchaseRate != 0 || r.ChurnRate != 0 || r.AOV != 0 || r.CLVPredicted != nil || len(r.Cohorts) != 0 {
		t.Errorf("empty period: %+v", r)
	}
}
