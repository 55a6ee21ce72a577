package web

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/tracking"
)

// Tracking consent: given at enrollment with its own text, shown and
// switched on the preferences page (German and English), each change logged.
func TestTrackingConsentOnPreferencesPage(t *testing.T) {
	e := newPubEnv(t)
	ctx := context.Background()
	_, _, err := e.subs.Enroll(ctx, subscribers.EnrollInput{Email: "x@example.com", Tracking: true}, subscribers.Meta{Channel: "api"})
	if e, ok := errs.As(err); !ok || e.Field != "tracking_text" {
		t.Fatalf("tracking without its text: %v", err)
	}
	s, _, err := e.subs.Enroll(ctx, subscribers.EnrollInput{Email: "lea@example.com", Locale: "de", Tracking: true,
		TrackingText: "Ja, Klicks dürfen mir zugeordnet werden.", Consent: &subscribers.ConsentInput{Text: "Newsletter ja", IP: "203.0.113.5"}},
		subscribers.Meta{Channel: "api"})
	if err != nil || !s.Tracking {
		t.Fatalf("enroll: %+v %v", s, err)
	}
	if ok, _ := e.subs.TrackingAllowed(ctx, s.ID); !ok {
		t.Fatal("not allowed after enrollment")
	}
	manage := e.subs.ManageToken(s.ID)
	wantPage(t, e.do("GET", "/preferences/"+manage, nil), 200, "de", `name="tracking" value="on" checked`, "Öffnungen und Klicks")
	// Saving without the box ticked withdraws it.
	w := e.do("POST", "/preferences/"+manage, url.Values{"name": {""}, "locale": {"en"}, "lists": {"newsletter"}, "tracking_shown": {"1"}})
	wantPage(t, w, 200, "en", "opens and clicks", `name="tracking" value="on">`)
	if ok, _ := e.subs.TrackingAllowed(ctx, s.ID); ok {
		t.Fatal("still allowed after unticking")
	}
	// A form without the box (an old page) leaves it as it is.
	e.do("POST", "/preferences/"+manage, url.Values{"locale": {"en"}, "lists": {"newsletter"}, "tracking": {"on"}})
	if ok, _ := e.subs.TrackingAllowed(ctx, s.ID); ok {
		t.Fatal("changed by a form without the box")
	}
	e.do("POST", "/preferences/"+manage, url.Values{"locale": {"en"}, "lists": {"newsletter"}, "tracking": {"on"}, "tracking_shown": {"1"}})
	got, _ := e.subs.Get(ctx, "lea@example.com")
	var log []string
	for _, c := range got.Consents {
		if strings.HasPrefix(c.Action, "tracking") {
			log = append(log, c.Action+":"+c.Text)
		}
	}
	if len(log) != 3 || log[0] != "tracking_on:Ja, Klicks dürfen mir zugeordnet werden." || !strings.HasPrefix(log[1], "tracking_off:") ||
		log[2] != "tracking_on:"+subscribers.TrackingText("en") || !got.Tracking {
		t.Fatalf("consent log %q", log)
	}
}

// /l/ redirects only to a registered link; anything else is a 404 page.
func TestClickRedirectAndPixel(t *testing.T) {
	e := newPubEnv(t)
	ctx := context.Background()
	s, _, _ := e.subs.Enroll(ctx, subscribers.EnrollInput{Email: "kim@example.com", Tracking: true, TrackingText: "ok"}, subscribers.Meta{})
	e.s.tracking = tracking.New(e.db, tracking.Config{BaseURL: "https://news.shop.example", Secret: []byte("k"), UTM: tracking.DefaultUTM}, e.subs, nil)
	e.s.trackingRoutes()
	l := e.s.tracking.Links(tracking.CampaignMail(3, "Sommer", true))
	h, _, err := l.Rewrite(ctx, nil, `<html><body><a href="https://shop.example/a">a</a></body></html>`, "", tracking.Recipient{SubscriberID: s.ID, Tracking: true})
	if err != nil {
		t.Fatal(err)
	}
	tok := func(prefix string) string {
		i := strings.Index(h, prefix) + len(prefix)
		return h[i : i+tracking.TokenLen]
	}
	w := e.do("GET", "/l/"+tok("/l/"), nil)
	if w.Code != 302 || w.Header().Get("Location") != "https://shop.example/a?utm_source=treu&utm_medium=email&utm_campaign=sommer" {
		t.Fatalf("redirect %d %q", w.Code, w.Header().Get("Location"))
	}
	for _, bad := range []string{"/l/" + strings.Repeat("A", 22), "/l/x", "/l/" + tok("/o/"), "/o/" + tok("/l/")} {
		if w := e.do("GET", bad, nil); w.Code != 404 || w.Header().Get("Location") != "" {
			t.Errorf("%s: %d %q", bad, w.Code, w.Header().Get("Location"))
		}
	}
	w = e.do("GET", "/o/"+tok("/o/"), nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/gif" || w.Body.Len() != len(pixel) {
		t.Fatalf("pixel %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	var clicks, opens int
	e.db.QueryRow(`SELECT (SELECT count(*) FROM clicks WHERE subscriber_id = ?), (SELECT count(*) FROM opens WHERE subscriber_id = ?)`, s.ID, s.ID).Scan(&clicks, &opens)
	if clicks != 1 || opens != 1 {
		t.Errorf("clicks %d opens %d", clicks, opens)
	}
}
