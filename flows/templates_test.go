package flows_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/templates"
)

func TestTemplatesCreate(t *testing.T) {
	e := newEnv(t)
	ts := flows.Templates()
	if len(ts) != 4 {
		t.Fatalf("templates = %d", len(ts))
	}
	for _, tp := range ts {
		f, err := e.eng.CreateFromTemplate(ctx, tp.Key, "")
		if err != nil {
			t.Fatalf("%s: %v", tp.Key, err)
		}
		if f.Slug != tp.Flow.Slug || f.Enabled || len(f.Steps) != len(tp.Flow.Steps) {
			t.Fatalf("%s: %+v", tp.Key, f)
		}
		for _, loc := range flows.Locales {
			if _, ok := tp.Flow.Steps[0].Locales[loc]; !ok {
				t.Fatalf("%s: no %s text", tp.Key, loc)
			}
		}
	}
	if _, err := e.eng.CreateFromTemplate(ctx, "nps", ""); !errs.Is(err, errs.Conflict) {
		t.Fatalf("taken slug: %v", err)
	}
	if _, err := e.eng.CreateFromTemplate(ctx, "nps", "nps-2"); err != nil {
		t.Fatalf("own slug: %v", err)
	}
	if _, err := e.eng.CreateFromTemplate(ctx, "nope", ""); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestNPSTemplateSendsElevenSignedLinks(t *testing.T) {
	e := newEnv(t)
	survey := retention.NewSurveyLinks([]byte("secret"), "https://treu.example")
	eng, err := flows.New(e.db, e.q, links{}, nil, e.coupons, flows.Config{
		From: "news@shop.example", FromName: "Kaffee & Co.", ListID: "newsletter.shop.example",
		Footer: templates.Footer{ShopName: "Kaffee & Co.", Impressum: "Musterstraße 1\n10115 Berlin"},
		Survey: survey.URL,
	}, discard)
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	e.wireEvents()
	sub := e.subscriber("kim@example.de", "de")
	f, err := e.eng.CreateFromTemplate(ctx, "nps", "")
	if err != nil {
		t.Fatal(err)
	}
	f.Enabled = true
	if _, err := e.eng.Put(ctx, f.Slug, f); err != nil {
		t.Fatal(err)
	}
	e.event(`{"type":"order.placed","id":"o1","email":"kim@example.de","order":{"id":"A-1","currency":"EUR","total":5}}`)
	if n := e.runs("nps"); n != 1 {
		t.Fatalf("runs = %d", n)
	}
	if r := e.tick(t0.Add(6 * 24 * time.Hour)); r.Sent != 0 {
		t.Fatalf("sent before 7 days: %+v", r)
	}
	if r := e.tick(t0.Add(7*24*time.Hour + time.Minute)); r.Sent != 1 {
		t.Fatalf("tick after 7 days: %+v", r)
	}
	m := e.mails()
	if len(m) != 1 || m[0].msg.SubscriberID != sub || m[0].msg.Subject != "Wie zufrieden sind Sie mit uns?" {
		t.Fatalf("mails = %+v", m)
	}
	re := regexp.MustCompile(`https://treu\.example/nps/([A-Za-z0-9_-]+)/(\d+)`)
	for _, body := range []string{m[0].msg.Text, m[0].msg.HTML} {
		found := map[string]bool{}
		for _, g := range re.FindAllStringSubmatch(body, -1) {
			id, sv, err := survey.Parse(g[1])
			if err != nil || id != sub || sv != "order:A-1" {
				t.Fatalf("link %s: %d %q %v", g[0], id, sv, err)
			}
			found[g[2]] = true
		}
		if len(found) != 11 {
			t.Fatalf("%d distinct answers in %q", len(found), body)
		}
	}
}
