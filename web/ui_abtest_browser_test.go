package web

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/treu-mail/treu/campaigns"
)

// TestBrowserABCampaign: a marketer writes an A/B campaign in the composer
// (variant B, test share, wait, metric), presses Enter in a field, sees a
// mistake come back with everything typed kept, saves, and once it sends
// picks the winner on the campaign's page.
func TestBrowserABCampaign(t *testing.T) {
	env, eng, svc := newCampaignEnv(t)
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		enroll(t, svc, e, "Kim")
	}
	ctx := context.Background()
	b := newBrowser(t)
	b.signIn(env)
	b.do("open the composer",
		chromedp.Navigate(env.ts.URL+"/ui/campaigns/new"),
		chromedp.WaitVisible(chromedp.CSS(`#c-markdown`)))
	b.clearMarkdown()
	b.do("write variant A",
		chromedp.SendKeys(chromedp.CSS(`#c-name`), "Herbst"),
		chromedp.SendKeys(chromedp.CSS(`#c-subject`), "Betreff A"),
		chromedp.SendKeys(chromedp.CSS(`#c-markdown`), "Hallo {{ .FirstName }}"))
	b.do("add variant B",
		chromedp.Click(chromedp.CSS(`#ab-details summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#variant-B summary`)),
		chromedp.Click(chromedp.CSS(`#variant-B summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#v1-subject`)),
		chromedp.SendKeys(chromedp.CSS(`#v1-subject`), "Betreff B"),
		chromedp.SendKeys(chromedp.CSS(`#v1-markdown`), "Servus {{ .FirstName }}"))
	b.eval("set the share", `document.querySelector('#ab-share').value = '30'`)
	b.eval("a wait that is too long", `document.querySelector('#ab-wait').value = ''`)
	b.do("type the wait and press Enter",
		chromedp.SendKeys(chromedp.CSS(`#ab-wait`), "100h"),
		chromedp.SendKeys(chromedp.CSS(`#ab-wait`), kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`.msg.err`)))
	if v := get(b, "variant B kept", chromedp.Evaluate[string](`document.querySelector('#v1-subject').value`)); v != "Betreff B" {
		b.fail("variant B subject after the error: %q", v)
	}
	if v := get(b, "share kept", chromedp.Evaluate[string](`document.querySelector('#ab-share').value`)); v != "30" {
		b.fail("share after the error: %q", v)
	}
	if v := get(b, "wait marked", chromedp.Evaluate[string](`document.querySelector('#ab-wait').getAttribute('aria-invalid') || ''`)); v != "true" {
		b.fail("the wait is not marked invalid")
	}
	b.eval("fix the wait", `document.querySelector('#ab-wait').value = ''`)
	b.do("type a good wait and press Enter",
		chromedp.SetValue(chromedp.CSS(`#ab-metric`), "revenue"),
		chromedp.SendKeys(chromedp.CSS(`#ab-wait`), "2h"),
		chromedp.SendKeys(chromedp.CSS(`#ab-wait`), kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`.msg.ok`)))
	list, err := eng.List(ctx, campaigns.ListOptions{})
	if err != nil || len(list) != 1 {
		b.fail("saved: %v %v", list, err)
	}
	cp := list[0]
	if len(cp.Variants) != 2 || cp.Variants[1].Subject != "Betreff B" || cp.Variants[1].Markdown != "Servus {{ .FirstName }}" ||
		cp.AB.TestShare != 0.3 || cp.AB.Wait != "2h" || cp.AB.Metric != campaigns.MetricRevenue {
		b.fail("saved A/B campaign: %+v %+v", cp.Variants, cp.AB)
	}
	if _, err := eng.Start(ctx, cp.ID); err != nil {
		t.Fatal(err)
	}
	b.do("open the running test",
		chromedp.Navigate(env.ts.URL+"/ui/campaigns/"+itoa(cp.ID)),
		chromedp.WaitVisible(chromedp.CSS(`#ab-results`)),
		chromedp.WaitVisible(chromedp.CSS(`#ab-row-B`)))
	b.do("pick B",
		chromedp.SetValue(chromedp.CSS(`#c-winner`), "1"),
		chromedp.Click(chromedp.CSS(`#pick-winner button`)),
		chromedp.WaitVisible(chromedp.CSS(`#ab-row-B.winner`)))
	if cp, _ = eng.Get(ctx, cp.ID); cp.Winner == nil || *cp.Winner != 1 || cp.AB.DecidedBy != "manual" {
		b.fail("winner %v", cp.Winner)
	}
}
