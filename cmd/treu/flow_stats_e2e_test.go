package main

import (
	"context"
	"testing"
	"time"

	"github.com/treu-mail/treu/mailer/smtptest"
)

// GET /api/flows/{slug}/stats has per step what a campaign shows: delivered,
// clicks, opens and their rates.
func TestFlowStepStatsThroughAPI(t *testing.T) {
	smtpd := smtptest.Start(t)
	in := startTreu(t, nil, "--smtp-url", smtpd.URL(), "--from", "news@shop.example")
	consent := map[string]string{"text": "Newsletter: ja", "ip": "198.51.100.1", "source": "import"}
	if st := in.do("POST", "/api/subscribers", map[string]any{"email": "cart@example.com", "locale": "de", "double_optin": false, "consent": consent}, nil); st != 201 {
		t.Fatalf("import = %d", st)
	}
	cart := map[string]any{"type": "cart.updated", "id": "ev-c1", "email": "cart@example.com", "cart": map[string]any{
		"id": "c1", "url": "https://shop.example/cart/c1", "currency": "EUR", "total": 29.9,
		"items": []map[string]any{{"sku": "TEE-1", "name": "Bio-T-Shirt", "price": 29.9, "quantity": 1}}}}
	if st := in.do("POST", "/api/events", cart, nil); st != 202 {
		t.Fatalf("event = %d", st)
	}
	if _, err := in.app.flows.Tick(context.Background(), time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	in.app.queue.Wake()
	p := parse(t, smtpd.WaitFor(1, 20*time.Second)[0])
	followTracked(t, in.base, p.Text, "Zurück zum Warenkorb (")

	type figures struct {
		Sent, Delivered, Clicks, Bounced int64
		ClicksUnique                     int64 `json:"clicks_unique"`
		OpensUnique                      int64 `json:"opens_unique"`
		Rates                            struct{ Click, Open, Bounce float64 }
	}
	var st struct {
		figures
		Steps []figures
	}
	if code := in.do("GET", "/api/flows/cart-abandonment/stats", nil, &st); code != 200 || len(st.Steps) < 2 {
		t.Fatalf("stats = %d %+v", code, st)
	}
	s := st.Steps[0]
	// Without tracking consent: the click counts, but for nobody.
	if s.Sent != 1 || s.Delivered != 1 || s.Clicks != 1 || s.ClicksUnique != 0 || s.Rates.Click != 0 || s.Bounced != 0 {
		t.Errorf("step 1: %+v", s)
	}
	if st.Sent != 1 || st.Clicks != 1 || st.Delivered != 1 {
		t.Errorf("flow: %+v", st.figures)
	}
}
