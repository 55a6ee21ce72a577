package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/mailer/smtptest"
)

// account is what GET /api/subscribers/{ref} shows of the bonus programme.
type account struct {
	ID          int64
	Points      *int64
	Rewards     []struct{ Code string }
	ReferralURL string `json:"referral_url"`
	ReferredBy  *int64 `json:"referred_by"`
	Referrals   []struct {
		FriendID int64  `json:"friend_id"`
		Credit   string `json:"credit"`
	}
}

// TestPointsEndToEnd: through the real server, orders earn points, a
// repeated order and a repeated refund count once, a refund takes back its
// share, a friend enrolled through the referral link credits the referrer
// at the first order, and a balance of --reward-points becomes a coupon code.
func TestPointsEndToEnd(t *testing.T) {
	smtpd := smtptest.Start(t)
	in := startTreu(t, nil, "--smtp-url", smtpd.URL(), "--from", "news@shop.example", "--points-per-euro", "1", "--reward-points", "100", "--reward-pool", "treue",
		"--referral-points", "50")
	if st := in.do("POST", "/api/coupon-pools", map[string]any{"slug": "treue", "name": "Treuebonus"}, nil); st != 201 {
		t.Fatalf("pool = %d", st)
	}
	if st := in.do("POST", "/api/coupon-pools/treue/codes", map[string]any{"codes": []string{"TREU-1", "TREU-2"}}, nil); st != 200 {
		t.Fatalf("codes = %d", st)
	}
	consent := map[string]string{"text": "Newsletter: ja"}
	enroll := func(email string, extra map[string]any) int {
		body := map[string]any{"email": email, "double_optin": false, "consent": consent}
		for k, v := range extra {
			body[k] = v
		}
		return in.do("POST", "/api/subscribers", body, nil)
	}
	get := func(email string) account {
		t.Helper()
		var a account
		if st := in.do("GET", "/api/subscribers/"+email, nil, &a); st != 200 {
			t.Fatalf("get %s = %d", email, st)
		}
		return a
	}
	points := func(email string) int64 {
		t.Helper()
		a := get(email)
		if a.Points == nil {
			t.Fatalf("%s has no points field", email)
		}
		return *a.Points
	}
	event := func(id, typ, email, order string) {
		t.Helper()
		body := fmt.Sprintf(`{"type":%q,"id":%q,"email":%q,"order":%s}`, typ, id, email, order)
		if st := in.do("POST", "/api/events", body, nil); st != 202 {
			t.Fatalf("event %s = %d", id, st)
		}
	}
	if st := enroll("kim@example.com", nil); st != 201 {
		t.Fatalf("enroll kim = %d", st)
	}
	kim := get("kim@example.com")
	if kim.Points == nil || *kim.Points != 0 || !strings.Contains(kim.ReferralURL, "/r/") {
		t.Fatalf("kim = %+v", kim)
	}
	token := kim.ReferralURL[strings.LastIndex(kim.ReferralURL, "/")+1:]

	// A bad referral enrolls nobody.
	var e struct{ Field string }
	if st := in.do("POST", "/api/subscribers", map[string]any{"email": "lea@example.com", "double_optin": false,
		"consent": consent, "referral": token + "x"}, &e); st != 422 || e.Field != "referral" {
		t.Fatalf("bad referral = %d %q", st, e.Field)
	}
	if st := in.do("GET", "/api/subscribers/lea@example.com", nil, nil); st != 404 {
		t.Fatalf("lea after a bad referral = %d, want 404", st)
	}
	if st := enroll("lea@example.com", map[string]any{"referral": token}); st != 201 {
		t.Fatalf("enroll lea = %d", st)
	}

	event("e1", "order.placed", "kim@example.com", `{"id":"k1","currency":"EUR","total":49.99}`)
	event("e1b", "order.placed", "kim@example.com", `{"id":"k1","currency":"EUR","total":49.99}`) // the same order again
	if p := points("kim@example.com"); p != 49 {
		t.Fatalf("kim after 49.99 EUR = %d points, want 49", p)
	}
	event("r1", "order.refunded", "kim@example.com", `{"id":"k1","total":20}`)
	event("r1b", "order.refunded", "kim@example.com", `{"id":"k1","total":20}`) // counted once per order
	if p := points("kim@example.com"); p != 29 {
		t.Fatalf("kim after refunding 20 EUR = %d points, want 29", p)
	}

	// Lea's first order earns her points and credits Kim once.
	event("e2", "order.placed", "lea@example.com", `{"id":"l1","currency":"EUR","total":10}`)
	event("e3", "order.placed", "lea@example.com", `{"id":"l2","currency":"EUR","total":5}`)
	lea := get("lea@example.com")
	if lea.Points == nil || *lea.Points != 15 || lea.ReferredBy == nil || *lea.ReferredBy != kim.ID {
		t.Fatalf("lea = %+v", lea)
	}
	kim = get("kim@example.com")
	if *kim.Points != 79 || len(kim.Referrals) != 1 || kim.Referrals[0].FriendID != lea.ID || kim.Referrals[0].Credit != "50 points" {
		t.Fatalf("kim after lea's orders = %+v", kim)
	}

	// The link leads a friend to the sign-up form, which carries the token.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(kim.ReferralURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/subscribe?ref="+token {
		t.Fatalf("referral link = %d %q", resp.StatusCode, loc)
	}
	resp, err = http.Get(in.base + "/subscribe?ref=" + token)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `name="ref" value="`+token+`"`) {
		t.Fatalf("sign-up form lacks the referral:\n%s", page)
	}
	resp, err = http.PostForm(in.base+"/subscribe", url.Values{"email": {"max@example.com"}, "lists": {"newsletter"},
		"locale": {"de"}, "ref": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-up = %d", resp.StatusCode)
	}
	if max := get("max@example.com"); max.ReferredBy == nil || *max.ReferredBy != kim.ID {
		t.Fatalf("max = %+v", max)
	}
	if kim = get("kim@example.com"); len(kim.Referrals) != 2 {
		t.Fatalf("kim's referrals = %+v", kim.Referrals)
	}

	// 79 + 30 reaches 100: one code of the pool, 100 points spent.
	event("e4", "order.placed", "kim@example.com", `{"id":"k2","currency":"EUR","total":30}`)
	kim = get("kim@example.com")
	if *kim.Points != 9 || len(kim.Rewards) != 1 || kim.Rewards[0].Code != "TREU-1" {
		t.Fatalf("kim after the reward = %+v", kim)
	}
	// The whole refund of an order takes back all it earned (30).
	event("r2", "order.refunded", "kim@example.com", `{"id":"k2"}`)
	if p := points("kim@example.com"); p != -21 {
		t.Fatalf("kim after refunding k2 = %d, want -21", p)
	}

	// A campaign prints each recipient's balance and referral link.
	smtpd.Reset()
	var cp struct{ ID int64 }
	if st := in.do("POST", "/api/campaigns", map[string]any{"name": "Punkte", "subject": "Ihre Punkte",
		"markdown": "Punkte: {{ .Points }}\n\nEmpfehlen: {{ .ReferralURL }}"}, &cp); st != 201 {
		t.Fatalf("campaign = %d", st)
	}
	if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/start", cp.ID), nil, nil); st != 200 {
		t.Fatalf("start = %d", st)
	}
	msgs := smtpd.WaitFor(2, 30*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("%d campaign mails, want 2 (kim, lea)", len(msgs))
	}
	for _, m := range msgs {
		p := parse(t, m)
		want := map[string]string{"kim@example.com": "Punkte: -21", "lea@example.com": "Punkte: 15"}[m.To[0]]
		if !strings.Contains(p.Text, want) || !strings.Contains(p.Text, "/r/") {
			t.Errorf("mail to %v lacks %q and the referral link:\n%s", m.To, want, p.Text)
		}
	}
}
