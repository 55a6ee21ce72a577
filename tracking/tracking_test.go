package tracking

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

type consentSet map[int64]bool

func (c consentSet) TrackingAllowed(_ context.Context, id int64) (bool, error) { return c[id], nil }

type fixture struct {
	db    *store.DB
	s     *Service
	clock time.Time
	ok    consentSet
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	db := storetest.Open(t)
	f := &fixture{db: db, clock: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), ok: consentSet{}}
	db.Now = func() time.Time { return f.clock }
	f.s = New(db, Config{BaseURL: "https://treu.example/", Secret: []byte("0123456789abcdef0123456789abcdef"), UTM: DefaultUTM}, f.ok, nil)
	return f
}

// subscriber adds a subscriber row (the subscribers package's table; tests only).
func (f *fixture) subscriber(t testing.TB, email string) int64 {
	t.Helper()
	res, err := f.db.Writer().Exec(`INSERT INTO subscribers (email, email_key, status, created_at, updated_at) VALUES (?, ?, 'active', 0, 0)`, email, email)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	return id
}

const mailHTML = `<html><head><link href="https://fonts.example/css" rel="stylesheet"></head><body>
<p><a href="https://shop.example/neu?x=1&amp;y=2" style="color:red">Neu</a>
<a href="https://shop.example/p/a#top">A</a> <a href="mailto:info@shop.example">Mail</a>
<a href="https://treu.example/unsubscribe/abc">Abmelden</a></p></body></html>`

const mailText = `Neu (https://shop.example/neu?x=1&y=2)
Mehr unter https://shop.example/p/a#top.
Abmelden: https://treu.example/unsubscribe/abc
`

func tokensIn(s, prefix string) []string {
	var out []string
	for {
		i := strings.Index(s, prefix)
		if i < 0 {
			return out
		}
		s = s[i+len(prefix):]
		out = append(out, s[:TokenLen])
	}
}

func TestRewriteAnonymous(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := f.s.Links(CampaignMail(7, "Frühling Sale!", true))
	h, txt, err := l.Rewrite(ctx, nil, mailHTML, mailText, Recipient{SubscriberID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, `href="https://shop.example`) || strings.Contains(txt, "(https://shop.example") {
		t.Fatalf("links left:\n%s\n%s", h, txt)
	}
	for _, keep := range []string{`href="https://fonts.example/css"`, `href="mailto:info@shop.example"`, `href="https://treu.example/unsubscribe/abc?m=`} {
		if !strings.Contains(h, keep) {
			t.Errorf("%s was changed:\n%s", keep, h)
		}
	}
	if !strings.Contains(txt, "Abmelden: https://treu.example/unsubscribe/abc?m=") || !strings.Contains(txt, ")\nMehr unter https://treu.example/l/") || !strings.HasSuffix(strings.Split(txt, "\n")[1], ".") {
		t.Errorf("text:\n%s", txt)
	}
	if strings.Contains(h, "/o/") {
		t.Error("a pixel without consent")
	}
	hTok, tTok := tokensIn(h, "https://treu.example/l/"), tokensIn(txt, "https://treu.example/l/")
	if len(hTok) != 2 || len(tTok) != 2 || hTok[0] != tTok[0] || hTok[1] != tTok[1] || hTok[0] == hTok[1] {
		t.Fatalf("tokens %v %v", hTok, tTok)
	}
	// Another recipient without consent gets the very same links.
	h2, _, _ := l.Rewrite(ctx, nil, mailHTML, mailText, Recipient{SubscriberID: 2})
	if h2 != h {
		t.Error("anonymous links differ between recipients")
	}
	target, err := f.s.Click(ctx, hTok[0], Hit{IP: "203.0.113.1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://shop.example/neu?x=1&y=2&utm_source=treu&utm_medium=email&utm_campaign=fruehling-sale"; target != want {
		t.Errorf("target %s, want %s", target, want)
	}
	target, _ = f.s.Click(ctx, hTok[1], Hit{IP: "203.0.113.9"})
	if want := "https://shop.example/p/a?utm_source=treu&utm_medium=email&utm_campaign=fruehling-sale#top"; target != want {
		t.Errorf("target %s, want %s", target, want)
	}
	var n, anon int
	f.db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE subscriber_id IS NULL AND sent_at IS NULL) FROM clicks WHERE mail = 'campaign:7'`).Scan(&n, &anon)
	if n != 2 || anon != 2 {
		t.Errorf("clicks %d, anonymous %d", n, anon)
	}
}

func TestRewriteTrackedAndPixel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sub := f.subscriber(t, "kim@example.com")
	f.ok[sub] = true
	l := f.s.Links(FlowMail("welcome", 0))
	sent := f.clock
	h, txt, err := l.Rewrite(ctx, nil, mailHTML, mailText, Recipient{SubscriberID: sub, Tracking: true, SentAt: sent})
	if err != nil {
		t.Fatal(err)
	}
	px := tokensIn(h, "https://treu.example/o/")
	if len(px) != 1 || !strings.Contains(h, `" width="1" height="1" alt=""`) || !strings.Contains(h, "border:0\"></body>") {
		t.Fatalf("pixel:\n%s", h)
	}
	toks := tokensIn(txt, "https://treu.example/l/")
	// Opened at once: the proxy on delivery. A minute later: a person.
	if err := f.s.Open(ctx, px[0], Hit{IP: "198.51.100.1"}); err != nil {
		t.Fatal(err)
	}
	f.clock = f.clock.Add(time.Minute)
	if err := f.s.Open(ctx, px[0], Hit{IP: "198.51.100.1"}); err != nil {
		t.Fatal(err)
	}
	// From Apple's proxy a minute after sending: still the machine.
	if err := f.s.Open(ctx, px[0], Hit{IP: "17.58.1.2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Click(ctx, toks[0], Hit{}); err != nil {
		t.Fatal(err)
	}
	var opens, machine int
	f.db.QueryRow(`SELECT count(*), sum(machine) FROM opens WHERE mail = 'flow:welcome:0' AND subscriber_id = ? AND sent_at = ?`, sub, sent.Unix()).Scan(&opens, &machine)
	if opens != 3 || machine != 2 {
		t.Errorf("opens %d, machine %d", opens, machine)
	}
	var clicks int
	f.db.QueryRow(`SELECT count(*) FROM clicks WHERE subscriber_id = ? AND machine = 0`, sub).Scan(&clicks)
	if clicks != 1 {
		t.Errorf("per-person clicks %d", clicks)
	}
	// Consent withdrawn: the same link counts, but for nobody.
	f.ok[sub] = false
	if _, err := f.s.Click(ctx, toks[0], Hit{}); err != nil {
		t.Fatal(err)
	}
	f.db.QueryRow(`SELECT count(*) FROM clicks WHERE subscriber_id IS NULL`).Scan(&clicks)
	if clicks != 1 {
		t.Errorf("anonymous clicks after withdrawal %d", clicks)
	}
}

func TestScannerClicks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := f.s.Links(CampaignMail(1, "x", false))
	h, _, _ := l.Rewrite(ctx, nil, mailHTML, "", Recipient{})
	toks := tokensIn(h, "https://treu.example/l/")
	scanner := Hit{IP: "192.0.2.7", UserAgent: "scanner"}
	for _, tok := range toks {
		if _, err := f.s.Click(ctx, tok, scanner); err != nil {
			t.Fatal(err)
		}
	}
	// A person elsewhere clicks one link twice, and another two seconds apart.
	person := Hit{IP: "192.0.2.8", UserAgent: "Firefox"}
	f.s.Click(ctx, toks[0], person)
	f.s.Click(ctx, toks[0], person)
	f.clock = f.clock.Add(2 * time.Second)
	f.s.Click(ctx, toks[1], person)
	var machine, human int
	f.db.QueryRow(`SELECT count(*) FILTER (WHERE machine = 1), count(*) FILTER (WHERE machine = 0) FROM clicks`).Scan(&machine, &human)
	if machine != 2 || human != 3 {
		t.Errorf("machine %d, human %d", machine, human)
	}
}

func TestTamperedTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := f.s.Links(CampaignMail(1, "x", true))
	h, _, _ := l.Rewrite(ctx, nil, mailHTML, "", Recipient{})
	tok := tokensIn(h, "https://treu.example/l/")[0]
	flip := []byte(tok)
	flip[3] ^= 1
	for _, bad := range []string{"", "x", tok[:21], tok + "A", string(flip), strings.Repeat("A", 22), "../../etc/passwd/aaaaaa"} {
		if _, err := f.s.Click(ctx, bad, Hit{}); !errs.Is(err, errs.NotFound) {
			t.Errorf("%q: %v", bad, err)
		}
		if err := f.s.Open(ctx, bad, Hit{}); !errs.Is(err, errs.NotFound) {
			t.Errorf("open %q: %v", bad, err)
		}
	}
	// A link token is no pixel, and an anonymous one never opens.
	if err := f.s.Open(ctx, tok, Hit{}); !errs.Is(err, errs.NotFound) {
		t.Errorf("link as pixel: %v", err)
	}
	// Another secret cannot read ours.
	other := New(f.db, Config{BaseURL: "https://treu.example", Secret: []byte("another secret")}, nil, nil)
	if _, err := other.Click(ctx, tok, Hit{}); !errs.Is(err, errs.NotFound) {
		t.Errorf("other secret: %v", err)
	}
}

func TestTextURLEnds(t *testing.T) {
	f := newFixture(t)
	l := f.s.Links(CampaignMail(5, "x", false))
	_, txt, err := l.Rewrite(context.Background(), nil, "", "Wiki (https://de.example/wiki/Kaffee_(Getränk)). Und https://a.example/x, dann (https://b.example/y).", Recipient{})
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	rows, _ := f.db.Query(`SELECT url FROM links WHERE mail = 'campaign:5' AND url <> '' ORDER BY url`)
	for rows.Next() {
		var u string
		rows.Scan(&u)
		urls = append(urls, u)
	}
	rows.Close()
	if strings.Join(urls, " ") != "https://a.example/x https://b.example/y https://de.example/wiki/Kaffee_(Getränk)" {
		t.Errorf("links %q from\n%s", urls, txt)
	}
	if !strings.HasSuffix(txt, ").") || strings.Count(txt, "https://treu.example/l/") != 3 {
		t.Errorf("text %s", txt)
	}
}

func TestAddQuery(t *testing.T) {
	q := "utm_source=treu&utm_medium=email&utm_campaign=s"
	for _, tc := range []struct{ in, want string }{
		{"https://a.example", "https://a.example?" + q},
		{"https://a.example/?", "https://a.example/?" + q},
		{"https://a.example/p?x=1#f", "https://a.example/p?x=1&" + q + "#f"},
		{"https://a.example/p?utm_campaign=own", "https://a.example/p?utm_campaign=own&utm_source=treu&utm_medium=email"},
	} {
		if got := addQuery(tc.in, q); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := addQuery("https://a.example", ""); got != "https://a.example" {
		t.Error(got)
	}
}

func TestSlugify(t *testing.T) {
	for in, want := range map[string]string{"Frühling Sale!": "fruehling-sale", "  --Größe 2026 ": "groesse-2026", "€€": ""} {
		if got := Slugify(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func FuzzToken(f *testing.F) {
	c := newCodec([]byte("secret"))
	f.Add(string(c.seal(token{link: 5}, nil)))
	f.Add(string(c.seal(token{link: 5, sub: 9, sent: time.Unix(1e9, 0)}, nil)))
	f.Add("AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		tk, ok := c.open(s)
		if !ok {
			return
		}
		if back := string(c.seal(tk, nil)); back != s {
			t.Fatalf("%q opens but seals as %q", s, back)
		}
	})
}

func FuzzRewrite(f *testing.F) {
	f.Add(mailHTML, mailText)
	f.Add(`<a href="http://x">`, "http://")
	f.Add(`<a href="`, "(http://a.b)")
	fx := newFixture(f)
	l := fx.s.Links(CampaignMail(1, "f", true))
	f.Fuzz(func(t *testing.T, h, txt string) {
		h2, t2, err := l.Rewrite(context.Background(), nil, h, txt, Recipient{SubscriberID: 3, Tracking: true})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(h2, "https://treu.example/l/") < strings.Count(h, "https://treu.example/l/") {
			t.Fatalf("lost a tracked link: %q -> %q", h, h2)
		}
		// A text without a web address is left exactly as it was; one with
		// them may get shorter (a long address becomes a short tracked one).
		if !strings.Contains(txt, "http") && t2 != txt {
			t.Fatalf("text without links changed: %q -> %q", txt, t2)
		}
	})
}

// BenchmarkRewrite: one recipient's links rewritten in a 10 KB mail, after
// the first recipient registered them.
func BenchmarkRewrite(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	l := f.s.Links(CampaignMail(1, "bench", true))
	body := strings.Repeat("<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>\n", 100)
	h := "<html><body>" + body + mailHTML + "</body></html>"
	for _, tracked := range []bool{false, true} {
		name := "anonymous"
		if tracked {
			name = "tracked"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(h) + len(mailText)))
			for b.Loop() {
				if _, _, err := l.Rewrite(ctx, nil, h, mailText, Recipient{SubscriberID: 5, Tracking: tracked, SentAt: f.clock}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// An unsubscribe through a mail's link counts for that mail, once per person.
func TestUnsubscribedCounts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sub := f.subscriber(t, "kim@example.com")
	l := f.s.Links(CampaignMail(4, "x", true))
	_, txt, err := l.Rewrite(ctx, nil, "", mailText, Recipient{SubscriberID: sub})
	if err != nil {
		t.Fatal(err)
	}
	u := l.UnsubscribeURL("https://treu.example/unsubscribe/abc")
	if !strings.Contains(txt, u+"\n") || l.UnsubscribeURL(u) != u || l.UnsubscribeURL("https://other.example/unsubscribe/x") != "https://other.example/unsubscribe/x" {
		t.Fatalf("unsubscribe URL %s in\n%s", u, txt)
	}
	m := u[strings.Index(u, "?m=")+3:]
	for range 2 {
		if err := f.s.Unsubscribed(ctx, m, sub); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", TokenLen)} {
		if err := f.s.Unsubscribed(ctx, bad, sub); err != nil {
			t.Fatal(err)
		}
	}
	st, err := f.s.Stats(ctx, CampaignKey(4))
	if err != nil || st.Unsubscribed != 1 {
		t.Fatalf("stats %+v %v", st, err)
	}
}

// Revenue: an order after a person's click is the clicked mail's, once;
// the shop's own attribution wins; a click outside the window earns nothing.
func TestOrderAttribution(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sub := f.subscriber(t, "kim@example.com")
	f.ok[sub] = true
	l := f.s.Links(CampaignMail(8, "x", true))
	h, _, _ := l.Rewrite(ctx, nil, mailHTML, "", Recipient{SubscriberID: sub, Tracking: true, SentAt: f.clock})
	if _, err := f.s.Click(ctx, tokensIn(h, "https://treu.example/l/")[0], Hit{}); err != nil {
		t.Fatal(err)
	}
	order := func(id string, at time.Time, campaign int64) {
		t.Helper()
		err := f.db.Tx(ctx, func(tx *store.Tx) error {
			return f.s.OrderPlaced(ctx, tx, Order{ID: id, SubscriberID: sub, Currency: "EUR", Total: 10, PlacedAt: at, CampaignID: campaign})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	order("o1", f.clock.Add(time.Hour), 0)
	order("o1", f.clock.Add(2*time.Hour), 0) // the same order again
	order("o2", f.clock.Add(6*24*time.Hour), 0)
	order("o3", f.clock.Add(time.Hour), 9)
	order("o4", f.clock.Add(-time.Hour), 0) // before the click
	st, _ := f.s.Stats(ctx, CampaignKey(8))
	if st.Orders != 1 || st.Revenue != 10 || st.Clicks != 1 || st.ClicksUnique != 1 {
		t.Errorf("campaign 8: %+v", st)
	}
	if st, _ := f.s.Stats(ctx, CampaignKey(9)); st.Orders != 1 {
		t.Errorf("campaign 9: %+v", st)
	}
	links, err := f.s.LinkStats(ctx, CampaignKey(8))
	if err != nil || len(links) != 2 || links[0].Clicks != 1 || links[0].URL != "https://shop.example/neu?x=1&y=2" {
		t.Errorf("links %+v %v", links, err)
	}
	tl, err := f.s.Timeline(ctx, CampaignKey(8), f.clock.Add(-time.Minute), 48)
	if err != nil || len(tl) != 48 || tl[0].Clicks != 1 {
		t.Errorf("timeline %+v %v", tl[:2], err)
	}
}

// Erasing a person keeps their clicks and opens, anonymous: the figures of
// the mails do not shrink, and nothing points at the person any more.
func TestErasedSubscriberAnonymised(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sub := f.subscriber(t, "kim@example.com")
	f.ok[sub] = true
	l := f.s.Links(CampaignMail(2, "x", true))
	h, _, _ := l.Rewrite(ctx, nil, mailHTML, "", Recipient{SubscriberID: sub, Tracking: true, SentAt: f.clock.Add(-time.Hour)})
	f.s.Click(ctx, tokensIn(h, "https://treu.example/l/")[0], Hit{})
	f.s.Open(ctx, tokensIn(h, "https://treu.example/o/")[0], Hit{})
	if _, err := f.db.Writer().Exec(`DELETE FROM subscribers WHERE id = ?`, sub); err != nil {
		t.Fatal(err)
	}
	var clicks, opens, named int
	f.db.QueryRow(`SELECT (SELECT count(*) FROM clicks), (SELECT count(*) FROM opens),
		(SELECT count(*) FROM clicks WHERE subscriber_id IS NOT NULL) + (SELECT count(*) FROM opens WHERE subscriber_id IS NOT NULL)`).Scan(&clicks, &opens, &named)
	if clicks != 1 || opens != 1 || named != 0 {
		t.Errorf("after erasure: clicks %d, opens %d, still named %d", clicks, opens, named)
	}
	// The erased person's old link still redirects, for nobody.
	f.ok[sub] = false
	if _, err := f.s.Click(ctx, tokensIn(h, "https://treu.example/l/")[0], Hit{}); err != nil {
		t.Fatal(err)
	}
}
