package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/mailer/smtptest"
	"github.com/treu-mail/treu/store"
)

// smtpTransport is a real SMTP client on an in-process SMTP server.
func smtpTransport(t *testing.T) (*mailer.SMTP, *smtptest.Server) {
	t.Helper()
	srv := smtptest.Start(t)
	sc, err := mailer.ParseSMTPURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	sc.Timeout = 5 * time.Second
	tr, err := mailer.NewSMTP(sc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, srv
}

// runEngine sends until the test ends.
func runEngine(t *testing.T, eng *campaigns.Engine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine: %v", err)
		}
	})
}

// hxGet is a GET as htmx sends it.
func (c *uiClient) hxGet(path string) uiResp {
	c.env.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.env.ts.URL+path, nil)
	req.Header.Set("HX-Request", "true")
	return c.do(req)
}

// TestUICampaignProgressResults: a running campaign's page polls a small
// fragment; when the status moves on the page is told to reload; a finished
// campaign shows its figures and the SMTP replies of failed deliveries.
func TestUICampaignProgressResults(t *testing.T) {
	tr, srv := smtpTransport(t)
	srv.SetReply(func(rcpt string) error {
		if strings.HasPrefix(rcpt, "bounce") {
			return smtptest.Permanent
		}
		return nil
	})
	env, eng, svc := newCampaignEnvWith(t, tr)
	ctx := context.Background()
	enroll(t, svc, "kim@example.com", "Kim Berger")
	enroll(t, svc, "bounce1@example.com", "Bo Unce")
	gone := enroll(t, svc, "bounce2@example.com", "Gone Soon")
	c := env.client()
	c.signIn()
	tok := c.csrfOf("/ui/campaigns/new")

	r := c.post("/ui/campaigns", url.Values{"csrf": {tok}, "name": {"Sommer"}, "subject": {"Sommer im Laden"},
		"lists": {"newsletter"}, "markdown": {"Hallo {{ .FirstName }}!"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", r.Status, r.Body)
	}
	page := strings.TrimSuffix(r.Location, "?done=campaign-saved")
	id := strings.TrimPrefix(page, "/ui/campaigns/")
	if r := c.get(page); strings.Contains(r.Body, `id="campaign-progress"`) {
		t.Error("a draft has no progress")
	}
	if r := c.post(page+"/start", url.Values{"csrf": {tok}}); r.Status != http.StatusSeeOther {
		t.Fatalf("start: %d\n%s", r.Status, r.Body)
	}

	// Running (the engine is not sending yet): the page polls every 2 s.
	r = c.get(page)
	mustContain(t, "running page", r.Body,
		`hx-get="/ui/campaigns/`+id+`/progress?status=running" hx-trigger="every 2s"`,
		`<progress class="progress" max="3" value="0"`, "0 / 3")
	frag := c.hxGet(page + "/progress?status=running")
	if frag.Status != http.StatusOK || frag.Header.Get("HX-Redirect") != "" || strings.Contains(frag.Body, "<html") {
		t.Fatalf("fragment: %d %v\n%s", frag.Status, frag.Header, frag.Body)
	}
	mustContain(t, "fragment", frag.Body, `id="campaign-progress"`, `hx-trigger="every 2s"`, `id="progress-bar"`)
	if strings.Contains(frag.Body, `id="results"`) {
		t.Error("results while running")
	}

	runEngine(t, eng)
	if _, err := eng.Wait(ctx, mustID(t, id), campaigns.Finished); err != nil {
		t.Fatal(err)
	}
	// The page still polling as "running" is told to reload.
	frag = c.hxGet(page + "/progress?status=running")
	if frag.Header.Get("HX-Redirect") != page {
		t.Fatalf("status changed, no HX-Redirect to %s: %v\n%s", page, frag.Header, frag.Body)
	}
	if err := svc.Erase(ctx, itoa(gone.ID)); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{page, page + "/progress"} {
		r := c.get(path)
		mustContain(t, path, r.Body, `id="results"`,
			`<dd id="result-audience">3</dd>`, `<dd id="result-sent">1</dd>`, `<dd id="result-failed">2</dd>`,
			`<dd id="result-skipped">0 `, `id="result-duration">`, `id="failures"`,
			`<a href="/ui/subscribers/`, `>bounce1@example.com</a>`, "No such user here", "erased subscriber",
			`value="3"`, "100%")
		if strings.Contains(r.Body, "hx-trigger=\"every") {
			t.Errorf("%s: a finished campaign still polls", path)
		}
		if strings.Contains(r.Body, "bounce2@example.com") {
			t.Errorf("%s: the erased subscriber's address is shown", path)
		}
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server received %d mails, want 1", n)
	}
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not an id: %q", s)
	}
	return n
}

// TestUICampaignSchedule: the composer's send time (UTC) and cron schedule
// a campaign; the scheduler's tick starts it; a layout can be picked.
func TestUICampaignSchedule(t *testing.T) {
	env, eng, svc := newCampaignEnvWith(t, nil)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 4, 7, 30, 0, 0, time.UTC) // a Monday
	env.db.Now = func() time.Time { return t0 }
	enroll(t, svc, "kim@example.com", "Kim Berger")
	c := env.client()
	c.signIn()

	r := c.get("/ui/campaigns/new")
	mustContain(t, "composer", r.Body, `type="datetime-local" id="c-send-at" name="send_at"`, "Send at (UTC)",
		"In UTC, not in your computer&#39;s time zone. It is now 2026-05-04 07:30 UTC.", `placeholder="0 9 * * MON"`)
	if strings.Contains(r.Body, `name="layout_id"`) {
		t.Error("a layout picker without layouts")
	}
	lay, err := eng.CreateLayout(ctx, campaigns.LayoutInput{Name: "Laden-Rahmen",
		HTML: `<html><body><div class="frame">{{ content }}</div></body></html>`})
	if err != nil {
		t.Fatal(err)
	}
	r = c.get("/ui/campaigns/new")
	mustContain(t, "composer with a layout", r.Body, `<select id="c-layout" name="layout_id">`,
		`<option value="`+itoa(lay.ID)+`">Laden-Rahmen</option>`)
	tok := c.csrfOf("/ui/campaigns/new")
	form := func(sendAt, cron string) url.Values {
		return url.Values{"csrf": {tok}, "name": {"Montag"}, "subject": {"Neue Woche"}, "lists": {"newsletter"},
			"markdown": {"Hallo!"}, "send_at": {sendAt}, "cron": {cron}, "layout_id": {itoa(lay.ID)}}
	}

	r = c.post("/ui/campaigns", form("morgen früh", ""))
	if r.Status != http.StatusUnprocessableEntity || !regexp.MustCompile(`id="c-send-at"[^>]*aria-invalid="true"`).MatchString(r.Body) {
		t.Fatalf("bad send time: %d\n%s", r.Status, r.Body)
	}
	r = c.post("/ui/campaigns", form("2026-05-04T09:00", "every day"))
	if r.Status != http.StatusUnprocessableEntity || !regexp.MustCompile(`id="c-cron"[^>]*aria-invalid="true"`).MatchString(r.Body) {
		t.Fatalf("bad cron: %d\n%s", r.Status, r.Body)
	}

	// Once, at 09:00 UTC.
	r = c.post("/ui/campaigns", form("2026-05-04T09:00", ""))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", r.Status, r.Body)
	}
	page := strings.TrimSuffix(r.Location, "?done=campaign-saved")
	id := mustID(t, strings.TrimPrefix(page, "/ui/campaigns/"))
	cp, _ := eng.Get(ctx, id)
	if cp.SendAt == nil || !cp.SendAt.Equal(time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)) || cp.LayoutID == nil || *cp.LayoutID != lay.ID {
		t.Fatalf("saved: send_at %v layout %v", cp.SendAt, cp.LayoutID)
	}
	r = c.get(page)
	mustContain(t, "saved page", r.Body, `value="2026-05-04T09:00"`, `<option value="`+itoa(lay.ID)+`" selected>`,
		`data-confirm="Schedule this campaign?"`, ">Schedule</button>")
	r = c.post(page+"/start", url.Values{"csrf": {tok}})
	if r.Status != http.StatusSeeOther || !strings.HasSuffix(r.Location, "done=campaign-scheduled") {
		t.Fatalf("schedule: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	r = c.get(r.Location)
	mustContain(t, "scheduled page", r.Body, "Campaign scheduled.", "badge scheduled",
		"Send time: <strong>2026-05-04 09:00 UTC</strong>", `hx-trigger="every 5s"`)
	if strings.Contains(r.Body, "<progress") {
		t.Error("a scheduled campaign shows a progress bar")
	}
	if err := eng.Tick(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if cp, _ := eng.Get(ctx, id); cp.Status != campaigns.Scheduled {
		t.Fatalf("started before its time: %s", cp.Status)
	}
	if err := eng.Tick(ctx, t0.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if cp, _ := eng.Get(ctx, id); cp.Status != campaigns.Running || cp.Stats.Audience != 1 {
		t.Fatalf("after its time: %s %+v", cp.Status, cp.Stats)
	}
	if r := c.hxGet(page + "/progress?status=scheduled"); r.Header.Get("HX-Redirect") != page {
		t.Fatalf("started: no reload\n%s", r.Body)
	}

	// Every Monday at 09:00 UTC.
	r = c.post("/ui/campaigns", form("", "0 9 * * MON"))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("save recurring: %d\n%s", r.Status, r.Body)
	}
	page = strings.TrimSuffix(r.Location, "?done=campaign-saved")
	if r := c.post(page+"/start", url.Values{"csrf": {tok}}); !strings.HasSuffix(r.Location, "done=campaign-scheduled") {
		t.Fatalf("schedule recurring: %d %q", r.Status, r.Location)
	}
	r = c.get(page)
	mustContain(t, "recurring page", r.Body, "Repeats: <code>0 9 * * MON</code>", "Next run: <strong>2026-05-04 09:00 UTC</strong>")
	if strings.Contains(r.Body, `hx-trigger="every`) {
		t.Error("a recurring campaign polls: its sends are campaigns of their own")
	}

	// German.
	c.post("/ui/lang", url.Values{"csrf": {tok}, "lang": {"de"}, "back": {page}})
	r = c.get(page)
	mustContain(t, "German page", r.Body, "Wiederholung", "Nächster Lauf")
}

// TestUISettingsSMTPCheck: the connection test shows OK or the server's error;
// without SMTP servers the page says mail is captured.
func TestUISettingsSMTPCheck(t *testing.T) {
	t.Run("outbox only", func(t *testing.T) {
		env := newUIEnv(t)
		c := env.client()
		c.signIn()
		r := c.get("/ui/settings")
		mustContain(t, "settings", r.Body, `id="smtp-none"`, "captured in the outbox")
		if strings.Contains(r.Body, "/ui/settings/smtp-check") {
			t.Error("a test button without SMTP servers")
		}
		r = c.post("/ui/settings/smtp-check", url.Values{"csrf": {c.csrfOf("/ui/settings")}})
		if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="smtp-none"`) {
			t.Fatalf("check without servers: %d", r.Status)
		}
	})
	t.Run("smtp", func(t *testing.T) {
		tr, srv := smtpTransport(t)
		var check func(context.Context) error = tr.Check
		env := newUIEnv(t, func(cfg *Config, d *UIDeps) {
			cfg.OutboxOnly = false
			d.SMTPCheck = func(ctx context.Context) error { return check(ctx) }
		})
		c := env.client()
		c.signIn()
		r := c.get("/ui/settings")
		mustContain(t, "settings", r.Body, `action="/ui/settings/smtp-check"`, `hx-select="#smtp-check"`, "Test connection")
		tok := c.csrfOf("/ui/settings")
		if r := c.post("/ui/settings/smtp-check", url.Values{}); r.Status != http.StatusForbidden {
			t.Fatalf("without CSRF token: %d", r.Status)
		}
		r = c.post("/ui/settings/smtp-check", url.Values{"csrf": {tok}})
		if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="smtp-check-ok"`) {
			t.Fatalf("check: %d\n%s", r.Status, r.Body)
		}
		// A server that is not there: the real client's error is shown.
		srv.Stop()
		sc, err := mailer.ParseSMTPURL("smtp://" + srv.Addr() + "?tls=none")
		if err != nil {
			t.Fatal(err)
		}
		down, err := mailer.NewSMTP(sc, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { down.Close() })
		check = down.Check
		r = c.post("/ui/settings/smtp-check", url.Values{"csrf": {tok}})
		mustContain(t, "failed check", r.Body, `id="smtp-check-err"`, "connect")
		if strings.Contains(r.Body, `id="smtp-check-ok"`) {
			t.Fatal("a failed check shows OK")
		}
		// Several servers: the lead's wiring joins their errors, each named.
		check = func(ctx context.Context) error {
			return errors.Join(errors.New("smtp.example:587: 535 5.7.8 Authentication credentials invalid"))
		}
		r = c.post("/ui/settings/smtp-check", url.Values{"csrf": {tok}})
		mustContain(t, "failed check", r.Body, `id="smtp-check-err"`, "535 5.7.8 Authentication credentials invalid")
	})
}

// TestUIDashboardGrowthFlows: the dashboard counts new active subscribers per
// day for 30 days and lists the flows with what they sent.
func TestUIDashboardGrowthFlows(t *testing.T) {
	env, _ := newMoreEnv(t)
	ctx := context.Background()
	now := time.Date(2026, 5, 20, 15, 0, 0, 0, time.UTC)
	env.db.Now = func() time.Time { return now }
	day := int64(86400)
	at := func(days int64) int64 { return now.Unix() - days*day }
	err := env.db.Tx(ctx, func(tx *store.Tx) error {
		for i, s := range []struct {
			status             string
			created, confirmed any
		}{
			{"active", at(0), nil},         // imported today
			{"active", at(0), at(0)},       // confirmed today
			{"active", at(12), at(3)},      // signed up 12 days ago, confirmed 3 days ago
			{"active", at(29), nil},        // the first day shown
			{"active", at(45), nil},        // too old
			{"pending", at(1), nil},        // not active
			{"unsubscribed", at(2), at(2)}, // not active any more
			{"active", at(400), at(1)},     // returning: not new
			{"active", at(-2), nil},        // a clock that was ahead
		} {
			_, err := tx.ExecContext(ctx, `INSERT INTO subscribers (email, email_key, status, created_at, updated_at, confirmed_at)
				VALUES (?1, ?1, ?2, ?3, ?3, ?4)`, "g"+itoa(int64(i))+"@example.com", s.status, s.created, s.confirmed)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := env.client()
	c.signIn()
	r := c.get("/ui/")
	mustContain(t, "dashboard", r.Body, `<p class="muted" id="growth-total">4 became active`,
		`<svg viewBox="0 0 298 100"`, "<title>May 20: 2</title>", "<title>May 17: 1</title>", "<title>Apr 21: 1</title>",
		"Apr 21 – May 20", `id="dashboard-flows"`, `href="/ui/flows/cart-abandonment"`)
	if n := strings.Count(r.Body, "<rect "); n != growthDays {
		t.Errorf("%d bars, want %d", n, growthDays)
	}
	if !regexp.MustCompile(`<rect x="290" y="0" width="8" height="100"><title>May 20: 2</title>`).MatchString(r.Body) {
		t.Error("today's bar is not the tallest and last")
	}
	if !strings.Contains(r.Body, `height="50"><title>May 17: 1</title>`) {
		t.Error("a day with half the maximum is not half as tall")
	}
	c.post("/ui/lang", url.Values{"csrf": {c.csrfOf("/ui/")}, "lang": {"de"}, "back": {"/ui/"}})
	r = c.get("/ui/")
	mustContain(t, "German dashboard", r.Body, "Neue Abonnenten", "<title>20.5.: 2</title>", "Abläufe")
}

func TestMaskURLPasswordMasksEveryServer(t *testing.T) {
	got := maskURLPassword("smtp://u1:secret1@h1:587 smtp://u2:secret2@h2:25?tls=none")
	if strings.Contains(got, "secret1") || strings.Contains(got, "secret2") || !strings.Contains(got, "h2:25") {
		t.Fatalf("masked = %q", got)
	}
}
