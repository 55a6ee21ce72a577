package web

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserRetentionPage: in Chromium the retention page draws its three
// charts, shows every figure with its explanation, and the period form
// recomputes the figures.
func TestBrowserRetentionPage(t *testing.T) {
	e := newRetentionEnv(t)
	e.seedRetention()
	b := newBrowser(t)
	b.signIn(e.uiEnv)
	b.do("open the retention page",
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/retention"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#ladder-chart`)))
	if h := b.text(`main h1`); h != "Retention" {
		b.fail("heading %q", h)
	}
	// Each chart is drawn with a size (not an empty or broken SVG).
	for _, id := range []string{"ladder-chart", "moves-chart", "cohort-chart"} {
		w := get(b, "measure "+id, chromedp.Evaluate[float64](`document.getElementById('`+id+`').getBoundingClientRect().width`))
		h := get(b, "measure "+id, chromedp.Evaluate[float64](`document.getElementById('`+id+`').getBoundingClientRect().height`))
		if w < 100 || h < 40 {
			b.fail("%s drawn %.0fx%.0f", id, w, h)
		}
	}
	// The ladder's bar for repeat buyers (a and b) is drawn and labelled.
	// SVG text has no innerText: read its textContent.
	if n := get(b, "read the ladder", chromedp.Evaluate[string](`document.querySelector('#ladder-chart text[data-stage="repeat_buyer"]').textContent`)); n != "2" {
		b.fail("repeat buyers on the ladder: %q", n)
	}
	bar := get(b, "measure the bar", chromedp.Evaluate[float64](`document.querySelector('#ladder-chart rect.stage-repeat_buyer').getBBox().width`))
	if bar <= 0 {
		b.fail("repeat buyer bar width %v", bar)
	}
	// Every figure has its one-line explanation, visible.
	n := get(b, "count explanations", chromedp.Evaluate[int](`[...document.querySelectorAll('#figures .card')].filter(c => c.querySelector('.explain') && c.querySelector('.explain').offsetHeight > 0).length`))
	if n != 8 {
		b.fail("%d figures with a visible explanation, want 8", n)
	}

	// Mark the page, so the wait below finds the new page, not this one.
	get(b, "mark the old page", chromedp.Evaluate[bool](`(document.body.dataset.old = '1', true)`))
	b.do("choose February",
		chromedp.SetValue(chromedp.CSS(`#period input[name=from]`), "2026-02-01"),
		chromedp.SetValue(chromedp.CSS(`#period input[name=to]`), "2026-02-28"),
		chromedp.Click(chromedp.CSS(`#period button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`body:not([data-old]) #fig-customers`)))
	if loc := b.location(); !strings.Contains(loc, "from=2026-02-01") {
		b.fail("location %s", loc)
	}
	// February: a and b bought, both with two orders by then; a and c
	// bought in the 28 days before, and c did not come back.
	for sel, want := range map[string]string{
		`#fig-customers .n`: "2", `#fig-repurchase .n`: "100.0 %", `#fig-churn .n`: "50.0 %", `#fig-aov .n`: "50.00",
	} {
		if got := b.text(sel); got != want {
			b.fail("%s = %q, want %q", sel, got, want)
		}
	}
}
