package main

import (
	"context"
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
