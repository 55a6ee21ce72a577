package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer/smtptest"
)

// Issue 9's A/B test end to end with the real binary, SQLite and SMTP: half
// the audience gets A or B; clicks through /l/ favour B; the server is
// stopped and started again mid-test (nothing is sent twice); the
// scheduler's tick after the wait sends B to the rest; everyone gets
// exactly one mail and the API shows each variant's figures and the winner.
func TestABTestThroughAPI(t *testing.T) {
	smtpd := smtptest.Start(t)
	args := []string{"--smtp-url", smtpd.URL(), "--from", "news@shop.example"}
	in := startTreu(t, nil, args...)
	consent := map[string]any{"text": "Newsletter: ja", "ip": "198.51.100.1"}
	const n = 20
	for i := range n {
		body := map[string]any{"email": fmt.Sprintf("k%02d@example.com", i), "locale": "de", "double_optin": false, "consent": consent,
			"tracking": true, "tracking_text": "Klicks dürfen mir zugeordnet werden."}
		if st := in.do("POST", "/api/subscribers", body, nil); st != 201 {
			t.Fatalf("enroll = %d", st)
		}
	}
	md := "Hallo {{ .FirstName }}, [zum Herbst](https://shop.example/herbst)\n"
	var bad struct{ Error, Field string }
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"subject": "A", "markdown": md, "variants": []map[string]any{{}, {"subject": "B {{ .Nope"}}}, "variants[1].subject"},
		{map[string]any{"subject": "A", "markdown": md, "variants": []map[string]any{{}}}, "variants"},
		{map[string]any{"subject": "A", "markdown": md, "variants": []map[string]any{{}, {}}, "ab": map[string]any{"test_share": 0.9}}, "ab.test_share"},
		{map[string]any{"subject": "A", "markdown": md, "variants": []map[string]any{{}, {}}, "ab": map[string]any{"wait": "80h"}}, "ab.wait"},
	} {
		if st := in.do("POST", "/api/campaigns", tc.body, &bad); st != 422 || bad.Field != tc.field {
			t.Errorf("%v = %d %+v, want 422 on %s", tc.body, st, bad, tc.field)
		}
	}
	var cp struct {
		ID       int64
		Variants []struct{ Subject, Markdown string }
		AB       struct {
			TestShare float64 `json:"test_share"`
			Wait      string
			Metric    string
		}
	}
	body := map[string]any{"name": "Herbst", "subject": "Herbst A", "markdown": md,
		"variants": []map[string]any{{}, {"subject": "Herbst B"}},
		"ab":       map[string]any{"test_share": 0.5, "wait": "1h", "metric": "clicks"}}
	if st := in.do("POST", "/api/campaigns", body, &cp); st != 201 {
		t.Fatalf("create = %d", st)
	}
	if len(cp.Variants) != 2 || cp.Variants[1].Subject != "Herbst B" || cp.Variants[1].Markdown != md || cp.AB.Wait != "1h" || cp.AB.TestShare != 0.5 {
		t.Fatalf("created %+v", cp)
	}
	start := time.Now()
	if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/start", cp.ID), nil, nil); st != 200 {
		t.Fatalf("start = %d", st)
	}
	in.eventually("the test mails", func() bool { return len(smtpd.Messages()) == n/2 })
	var clicked int
	for _, r := range smtpd.Messages() {
		if p := parse(t, r); p.Subject == "Herbst B" && clicked < 2 {
			followTracked(t, in.base, p.Text, "zum Herbst (")
			clicked++
		}
	}
	if clicked != 2 {
		t.Fatalf("%d B mails clicked", clicked)
	}

	// A restart mid-test: the new process sends nothing until the winner is chosen.
	in.stop()
	in.stop = nil
	in = serveTreu(t, in.data, in.token, nil, args...)
	ctx := context.Background()
	if err := in.app.campaigns.Tick(ctx, start.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Status   string
		Winner   *int
		Variants []struct {
			Subject string
			Stats   map[string]float64
		}
		AB struct{ Rest int64 }
	}
	in.do("GET", fmt.Sprintf("/api/campaigns/%d", cp.ID), nil, &got)
	if got.Winner != nil || got.Status != "running" || got.AB.Rest != n/2 || len(got.Variants) != 2 ||
		got.Variants[1].Stats["clicks_unique"] != 2 || got.Variants[0].Stats["delivered"] != n/4 || got.Variants[1].Stats["audience"] != n/4 {
		t.Fatalf("mid-test: %+v", got)
	}
	if len(smtpd.Messages()) != n/2 {
		t.Fatalf("the restart sent %d mails", len(smtpd.Messages())-n/2)
	}

	// The scheduler's tick after the wait: B wins and goes to the rest.
	if err := in.app.campaigns.Tick(ctx, start.Add(61*time.Minute)); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := in.app.campaigns.Wait(wctx, cp.ID, campaigns.Finished); err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	subjects := map[string]int{}
	for _, r := range smtpd.Messages() {
		per[r.To[0]]++
		subjects[parse(t, r).Subject]++
	}
	if len(per) != n || subjects["Herbst A"] != n/4 || subjects["Herbst B"] != n-n/4 {
		t.Fatalf("recipients %d, subjects %v", len(per), subjects)
	}
	for rcpt, k := range per {
		if k != 1 {
			t.Errorf("%s got %d mails", rcpt, k)
		}
	}
	in.do("GET", fmt.Sprintf("/api/campaigns/%d", cp.ID), nil, &got)
	if got.Winner == nil || *got.Winner != 1 {
		t.Fatalf("winner %v", got.Winner)
	}
	if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/winner", cp.ID), map[string]any{"variant": 0}, &bad); st != 409 {
		t.Fatalf("picking a decided test = %d %+v", st, bad)
	}
	if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/winner", cp.ID), map[string]any{}, &bad); st != 422 || bad.Field != "variant" {
		t.Fatalf("no variant = %d %+v", st, bad)
	}
}
