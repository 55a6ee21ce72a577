package web

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/mailer/smtptest"
)

// gatedTransport holds campaign mails until the test opens the gate, so a
// browser can see a send while it runs.
type gatedTransport struct {
	tr   campaigns.Transport
	mu   sync.Mutex
	gate chan struct{} // nil: open
}

func (g *gatedTransport) Send(ctx context.Context, m *mailer.Message) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.tr.Send(ctx, m)
}

func (g *gatedTransport) hold() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedTransport) open() {
	g.mu.Lock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
	g.mu.Unlock()
}

// waitThroughReload is waitFor for a page that reloads itself meanwhile (a
// poll chromedp runs in the page dies with the page): it asks again and again.
func (b *browser) waitThroughReload(step, js string) {
	b.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { try { return `+js+`; } catch (e) { return false; } })()`))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.fail("%s: not within %s", step, stepTimeout)
}

// TestBrowserCampaignScheduleProgress: a marketer writes a campaign, sends a
// test that arrives at the SMTP server, schedules the campaign, watches its
// progress when the scheduler starts it and the results when it is done,
// then signs out.
func TestBrowserCampaignScheduleProgress(t *testing.T) {
	tr, srv := smtpTransport(t)
	srv.SetReply(func(rcpt string) error {
		if strings.HasPrefix(rcpt, "bounce") {
			return smtptest.Permanent
		}
		return nil
	})
	gated := &gatedTransport{tr: tr}
	env, eng, svc := newCampaignEnvWith(t, gated, func(cfg *Config, d *UIDeps) {
		cfg.OutboxOnly = false
		d.SMTPCheck = tr.Check
	})
	ctx := context.Background()
	enroll(t, svc, "kim@example.com", "Kim Berger")
	enroll(t, svc, "bounce@example.com", "Bo Unce")
	runEngine(t, eng)
	t.Cleanup(gated.open) // a failed test must not leave the engine's senders waiting

	b := newBrowser(t)
	b.signIn(env)
	b.do("open the composer",
		chromedp.Navigate(env.ts.URL+"/ui/campaigns/new"),
		chromedp.WaitVisible(chromedp.CSS(`#c-markdown`)))
	if h := b.text(`#send-at-hint`); !strings.Contains(h, "In UTC") {
		b.fail("send time hint %q does not name the time zone", h)
	}
	b.clearMarkdown()
	sendAt := time.Now().UTC().Add(2 * time.Hour).Truncate(time.Minute)
	b.do("write",
		chromedp.SendKeys(chromedp.CSS(`#c-name`), "Herbst"),
		chromedp.SendKeys(chromedp.CSS(`#c-subject`), "Der Herbst ist da"),
		chromedp.SendKeys(chromedp.CSS(`#c-markdown`), "# Äpfel und Birnen\n\nHallo {{ .FirstName }}!"))
	b.waitPreview("Äpfel und Birnen")
	b.eval("set the send time", `document.querySelector('#c-send-at').value = '`+sendAt.Format(sendAtLayout)+`'`)
	b.do("save",
		chromedp.Click(chromedp.CSS(`#composer button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.msg.ok`)))
	list, err := eng.List(ctx, campaigns.ListOptions{})
	if err != nil || len(list) != 1 || list[0].SendAt == nil || !list[0].SendAt.Equal(sendAt) {
		b.fail("saved: %+v %v", list, err)
	}
	id := list[0].ID

	// The saved preview loads after the page and moves the test form down:
	// click only after it is in place.
	b.waitPreview("Äpfel und Birnen")
	b.eval("address the test", `document.querySelector('#c-test').value = ''`)
	b.do("send a test",
		chromedp.SendKeys(chromedp.CSS(`#c-test`), "qa@shop.example"),
		// The preview column is sticky: scroll first, so the click's
		// own scroll does not move the button under the pointer.
		chromedp.ScrollIntoView(chromedp.CSS(`form[action$="/test"] button[type=submit]`)),
		chromedp.Click(chromedp.CSS(`form[action$="/test"] button[type=submit]`)))
	// The page already shows "Campaign saved.": wait for the new flash.
	b.waitThroughReload("the test is sent", `document.querySelector('.msg.ok').textContent === 'Test mail sent.'`)
	if got := srv.WaitFor(1, 5*time.Second); len(got) != 1 || got[0].To[0] != "qa@shop.example" ||
		!strings.Contains(string(got[0].Data), "Der Herbst ist da") {
		b.fail("test mail at the SMTP server: %+v", got)
	}

	b.eval("accept the confirmation", `window.confirm = () => true`)
	b.do("schedule",
		chromedp.Click(chromedp.CSS(`form[action$="/start"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#campaign-progress[data-status=scheduled]`)))
	if f := b.text(`.msg.ok`); f != "Campaign scheduled." {
		b.fail("flash %q", f)
	}
	if !strings.Contains(b.location(), "done=campaign-scheduled") {
		b.fail("no flash code in %s", b.location())
	}

	// The scheduler's tick (cmd/treu runs it every --flow-tick) starts it;
	// the page notices by itself and shows the send while it runs.
	gated.hold()
	if err := eng.Tick(ctx, sendAt.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	b.waitThroughReload("the page shows the running send", `!!document.querySelector('#campaign-progress[data-status=running] #progress-bar')`)
	if p := b.text(`#progress-text`); !strings.Contains(p, "0 / 2") {
		b.fail("progress while held: %q", p)
	}
	gated.open()
	b.waitThroughReload("the send finishes", `!!document.querySelector('#campaign-progress[data-status=finished] #results')`)
	if loc := b.location(); strings.Contains(loc, "done=") {
		b.fail("the reloaded page still has the old flash: %s", loc)
	}
	if n := b.text(`#result-sent`); n != "1" {
		b.fail("sent %q", n)
	}
	if n := b.text(`#result-failed`); n != "1" {
		b.fail("failed %q", n)
	}
	if f := b.text(`#failures`); !strings.Contains(f, "bounce@example.com") || !strings.Contains(f, "No such user here") {
		b.fail("failures %q", f)
	}
	if cp, _ := eng.Get(ctx, id); cp.Status != campaigns.Finished {
		b.fail("status %s", cp.Status)
	}

	// The SMTP server the campaign went through answers the settings' test.
	b.do("test the SMTP connection",
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/settings"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#smtp-check-button`)),
		chromedp.Click(chromedp.CSS(`#smtp-check-button`)),
		chromedp.WaitVisible(chromedp.CSS(`#smtp-check-ok`)))
	if n := get(b, "count the headings", chromedp.Evaluate[int](`document.querySelectorAll('main h1').length`)); n != 1 {
		b.fail("htmx swapped in %d headings, want only the outcome", n)
	}

	b.do("sign out",
		chromedp.Click(chromedp.CSS(`form[action="/ui/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.Navigate(env.ts.URL+"/ui/campaigns"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)))
	if loc := b.location(); !strings.Contains(loc, "/ui/login?next=") {
		b.fail("after sign-out /ui/campaigns led to %s", loc)
	}
}
