package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/treu-mail/treu/mailer/smtptest"
)

// TestCustomEventFlow: the marketer makes a flow over the API, the shop
// posts a custom event with its own data, and the mail carrying that data
// arrives over SMTP.
func TestCustomEventFlow(t *testing.T) {
	smtpd := smtptest.Start(t)
	in := startTreu(t, nil, "--smtp-url", smtpd.URL(), "--from", "news@shop.example", "--shop-name", "Kaffee & Co.")

	var bad struct{ Field string }
	if st := in.do("POST", "/api/flows", `{"slug":"shipped","trigger":{"event":"order.shipped"},
		"steps":[{"delay":"0s","subject":"","markdown":"x"}]}`, &bad); st != 422 || bad.Field != "steps[0].subject" {
		t.Fatalf("invalid flow = %d %+v", st, bad)
	}
	var f struct {
		Slug    string
		Enabled bool
		Trigger struct{ Event string }
	}
	if st := in.do("POST", "/api/flows", `{"slug":"shipped","name":"Shipped","enabled":true,"trigger":{"event":"order.shipped"},
		"steps":[{"delay":"0s","subject":"Unterwegs mit {{ .Event.data.carrier }}","markdown":"Sendung verfolgen: {{ .Event.data.tracking_url }}"}]}`, &f); st != 201 ||
		f.Slug != "shipped" || !f.Enabled || f.Trigger.Event != "order.shipped" {
		t.Fatalf("create = %d %+v", st, f)
	}
	if st := in.do("POST", "/api/flows", `{"slug":"shipped","trigger":{"confirmed":true},"steps":[{"subject":"a","markdown":"b"}]}`, nil); st != 409 {
		t.Fatalf("same slug again = %d", st)
	}
	if st := in.do("POST", "/api/subscribers", `{"email":"kim@example.com","locale":"de","double_optin":false,
		"consent":{"text":"Ja, Newsletter.","source":"checkout"}}`, nil); st != 201 {
		t.Fatalf("enroll = %d", st)
	}
	ev := `{"type":"order.shipped","id":"ship-1","email":"kim@example.com","data":{"carrier":"DHL","tracking_url":"https://track.example/123"}}`
	for range 2 { // the shop retries: one mail
		if st := in.do("POST", "/api/events", ev, nil); st != 202 {
			t.Fatalf("event = %d", st)
		}
	}
	in.tickFlows()
	in.tickFlows()
	var mail []string
	in.eventually("the shipping mail", func() bool {
		mail = nil
		for _, r := range smtpd.Messages() {
			if p := parse(t, r); strings.HasPrefix(p.Subject, "Unterwegs") {
				mail = append(mail, p.Subject+"\n"+p.Text)
			}
		}
		return len(mail) > 0
	})
	if len(mail) != 1 || !strings.Contains(mail[0], "Unterwegs mit DHL") {
		t.Fatalf("mails = %q", mail)
	}
	// The event's link, tracked: its redirect leads to the shop's URL.
	i := strings.Index(mail[0], in.base+"/l/")
	if i < 0 {
		t.Fatalf("no tracked link in %q", mail[0])
	}
	tracked := strings.Fields(mail[0][i:])[0]
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(tracked)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://track.example/123") {
		t.Fatalf("tracked link %s leads to %q", tracked, loc)
	}
	var got struct{ Steps []map[string]any }
	if st := in.do("GET", "/api/flows/shipped", nil, &got); st != 200 || len(got.Steps) != 1 {
		t.Fatalf("get = %d %+v", st, got)
	}
	if st := in.do("DELETE", "/api/flows/welcome", nil, nil); st != 409 {
		t.Fatalf("delete welcome = %d", st)
	}
	if st := in.do("DELETE", "/api/flows/shipped", nil, nil); st != 204 {
		t.Fatalf("delete = %d", st)
	}
	if st := in.do("GET", "/api/flows/shipped", nil, nil); st != 404 {
		t.Fatalf("get after delete = %d", st)
	}
}
