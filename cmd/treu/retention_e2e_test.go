package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// TestSubscriberStage: GET /api/subscribers/{ref} shows the ladder stage, set
// by the shop's orders through the real binary's wiring, including orders
// sent before the address enrolled.
func TestSubscriberStage(t *testing.T) {
	in := startTreu(t, nil)
	order := func(id string) {
		t.Helper()
		if st := in.do("POST", "/api/events", `{"type":"order.placed","email":"kim@example.com","order":{"id":"`+id+`","currency":"EUR","total":25}}`, nil); st != 202 {
			t.Fatalf("order %s = %d", id, st)
		}
	}
	order("early") // before the address is a subscriber
	if st := in.do("POST", "/api/subscribers", `{"email":"kim@example.com","double_optin":false,
		"consent":{"text":"Ja, Newsletter.","source":"checkout"}}`, nil); st != 201 {
		t.Fatalf("enroll = %d", st)
	}
	var sub struct{ Stage string }
	in.do("GET", "/api/subscribers/kim@example.com", nil, &sub)
	if sub.Stage != "prospect" {
		t.Fatalf("stage before linking = %q", sub.Stage)
	}
	// Imported subscribers get their earlier orders at the hourly link.
	if _, err := in.app.events.LinkAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	in.do("GET", "/api/subscribers/kim@example.com", nil, &sub)
	if sub.Stage != "first_time_buyer" {
		t.Fatalf("stage after the linked order = %q", sub.Stage)
	}
	order("second")
	in.do("GET", "/api/subscribers/kim@example.com", nil, &sub)
	if sub.Stage != "repeat_buyer" {
		t.Fatalf("stage after two orders = %q", sub.Stage)
	}
}

// TestRetentionAPI: GET /api/retention computes the figures from the orders
// the shop sent; a bad period is a 422 naming the parameter.
func TestRetentionAPI(t *testing.T) {
	in := startTreu(t, nil)
	for _, who := range []string{"a", "b", "c"} {
		if st := in.do("POST", "/api/subscribers", `{"email":"`+who+`@example.com","double_optin":false,
			"consent":{"text":"Ja, Newsletter.","source":"checkout"}}`, nil); st != 201 {
			t.Fatalf("enroll %s = %d", who, st)
		}
	}
	for i, o := range []struct{ who, at, total string }{
		{"a", "2026-01-10", "50"}, {"a", "2026-02-05", "100"}, {"b", "2026-02-10", "40"},
		{"b", "2026-02-11", "60"}, {"c", "2026-01-15", "30"},
	} {
		body := fmt.Sprintf(`{"type":"order.placed","email":"%s@example.com","occurred_at":"%sT10:00:00Z","order":{"id":"o%d","currency":"EUR","total":%s}}`,
			o.who, o.at, i, o.total)
		if st := in.do("POST", "/api/events", body, nil); st != 202 {
			t.Fatalf("order %d = %d", i, st)
		}
	}
	var r struct {
		Customers         int64
		RepurchaseRate    float64 `json:"repurchase_rate"`
		ChurnRate         float64 `json:"churn_rate"`
		AOV               float64
		OrdersPerCustomer float64 `json:"orders_per_customer"`
		CLV               float64
		NPS               *float64
		Stages            map[string]int64
		Cohorts           []json.RawMessage
	}
	// The clock is real: orders this old make all three lapsing or lost.
	// February (28 days): a and b bought, both twice by then (3 orders, 200).
	// Before it (from 2026-01-04): a and c; c did not come back: churn 1/2.
	if st := in.do("GET", "/api/retention?from=2026-02-01&to=2026-02-28", nil, &r); st != 200 {
		t.Fatalf("GET /api/retention = %d", st)
	}
	if r.Customers != 2 || r.RepurchaseRate != 1 || r.ChurnRate != 0.5 || r.AOV != 66.67 || r.OrdersPerCustomer != 1.5 ||
		r.CLV != 125 || r.NPS == nil || r.Stages["lapsing"]+r.Stages["lost"] != 3 || r.Cohorts == nil {
		t.Fatalf("report %+v", r)
	}
	for q, field := range map[string]string{"from=yesterday": "from", "to=2026-13-01": "to",
		"from=2026-03-01&to=2026-02-01": "to", "from=2000-01-01&to=2026-01-01": "from"} {
		var e struct{ Error, Field string }
		if st := in.do("GET", "/api/retention?"+q, nil, &e); st != 422 || e.Field != field {
			t.Errorf("?%s = %d %+v, want 422 naming %s", q, st, e, field)
		}
	}
	if st := in.do("GET", "/api/retention", nil, &r); st != 200 || r.Stages == nil {
		t.Fatalf("default period = %d %+v", st, r)
	}
}
