package web

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/treu-mail/treu/flows"
)

// waitFor polls a JavaScript condition in the page until it holds.
func (b *browser) waitFor(step, js string) {
	b.t.Helper()
	get(b, step, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(stepTimeout-time.Second)))
}

// eval runs a statement in the page (selects the builder re-renders, typed
// values that chromedp's Clear cannot clear).
func (b *browser) eval(step, js string) {
	b.t.Helper()
	get(b, step, chromedp.Evaluate[bool](`(() => { `+js+`; return true; })()`))
}

// TestBrowserImportSegmentFlow: a marketer imports a small CSV file, builds
// a segment with the rule builder and sees its live count, then edits the
// cart-abandonment flow with its preview.
func TestBrowserImportSegmentFlow(t *testing.T) {
	env, m := newMoreEnv(t)
	b := newBrowser(t)
	b.signIn(env)

	// Import.
	file := filepath.Join(t.TempDir(), "kunden.csv")
	csv := "email;name;city\nanna@example.com;Anna Berg;Berlin\nben@example.com;Ben Bauer;Köln\ncem@example.com;Cem Yıldız;Berlin\nnot-an-address;X;Berlin\n"
	if err := os.WriteFile(file, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do("upload the file",
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/import"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#import-file`)),
		chromedp.SetUploadFiles(chromedp.CSS(`#import-file`), []string{file}),
		chromedp.Click(chromedp.CSS(`form[action="/ui/import"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#import-source`)))
	b.do("give the consent and check the file",
		chromedp.SendKeys(chromedp.CSS(`#import-source`), "Bestellvorgang 2024"),
		chromedp.SendKeys(chromedp.CSS(`#import-text`), "Ja, ich möchte den Newsletter."),
		chromedp.Click(chromedp.CSS(`#import-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#report-valid`)))
	if n := b.text(`#report-valid`); n != "3" {
		b.fail("rows to import: %q, want 3", n)
	}
	if n := b.text(`#report-bad`); n != "1" {
		b.fail("bad rows: %q, want 1", n)
	}
	b.eval("accept the confirmation", `window.confirm = () => true`)
	b.do("import",
		chromedp.Click(chromedp.CSS(`#import-run`)),
		chromedp.WaitVisible(chromedp.CSS(`#import-done`)))
	if n := b.text(`#import-created`); n != "3" {
		b.fail("created: %q, want 3", n)
	}

	// A segment: city is Berlin.
	b.do("open the builder",
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/segments"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/segments/new"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/ui/segments/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rule-builder .rb-group`)))
	if n := b.text(`#seg-count-n`); n != "3" {
		b.fail("everyone: %q, want 3", n)
	}
	b.do("name it and add a condition",
		chromedp.SendKeys(chromedp.CSS(`#seg-name`), "Berlin"),
		chromedp.Click(chromedp.CSS(`#rule-builder .rb-add button`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-path="rule.all[0]"][data-role="value"]`)))
	b.waitFor("nobody has ordered", `document.querySelector('#seg-count-n') && document.querySelector('#seg-count-n').textContent === '0'`)
	const cond = `[data-path="rule.all[0]"]`
	b.eval("pick an attribute", `const s = document.querySelector('`+cond+`[data-role="field"]'); s.value = 'attributes.'; s.dispatchEvent(new Event('change', {bubbles: true}))`)
	b.do("name the attribute", chromedp.SendKeys(chromedp.CSS(cond+`[data-role="key"]`), "city"))
	b.eval("pick is", `const s = document.querySelector('`+cond+`[data-role="op"]'); s.value = 'eq'; s.dispatchEvent(new Event('change', {bubbles: true}))`)
	b.do("type the city", chromedp.SendKeys(chromedp.CSS(cond+`[data-role="value"]`), "Berlin"))
	b.waitFor("the count follows the rule", `document.querySelector('#seg-count-n') && document.querySelector('#seg-count-n').textContent === '2'`)
	b.do("save the segment",
		chromedp.Click(chromedp.CSS(`#segment-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.msg.ok`)))
	segs, err := m.segs.List(context.Background())
	if err != nil || len(segs) != 1 {
		b.fail("segments: %+v %v", segs, err)
	}
	raw, _ := json.Marshal(segs[0].Rule)
	if string(raw) != `{"all":[{"field":"attributes.city","op":"eq","value":"Berlin"}]}` {
		b.fail("saved rule %s", raw)
	}
	if n := b.text(`#seg-count-n`); n != "2" {
		b.fail("count after saving: %q", n)
	}

	// The cart-abandonment flow: a new subject and wait for the first reminder.
	b.do("open the cart flow",
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/flows"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/flows/cart-abandonment"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/ui/flows/cart-abandonment"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#s0-subject`)))
	b.waitFor("the preview shows the sample cart", `(() => { const f = document.querySelector('#flow-preview-0 iframe'); return !!f && f.srcdoc.includes('Sencha'); })()`)
	b.eval("clear the subject and the wait", `document.querySelector('#s0-subject').value = ''; document.querySelector('#s0-delay').value = ''`)
	b.do("write",
		chromedp.SendKeys(chromedp.CSS(`#s0-subject`), "Dein Warenkorb, {{ .FirstName }}"),
		chromedp.SendKeys(chromedp.CSS(`#s0-delay`), "2h"))
	b.waitFor("the preview follows", `(() => { const s = document.querySelector('#flow-preview-subject-0'); return !!s && s.textContent === 'Dein Warenkorb, Kim'; })()`)
	b.do("save the flow",
		chromedp.Click(chromedp.CSS(`#flow-form button[value=save]:not(.default-submit)`)),
		chromedp.WaitVisible(chromedp.CSS(`.msg.ok`)))
	f, err := m.flows.Get(context.Background(), flows.CartAbandonment)
	if err != nil || f.Steps[0].Subject != "Dein Warenkorb, {{ .FirstName }}" || time.Duration(f.Steps[0].Delay) != 2*time.Hour {
		b.fail("saved flow: %+v %v", f.Steps[0], err)
	}
	if v := get(b, "read the delay", chromedp.Value(chromedp.CSS(`#s0-delay`))); v != "2h" {
		b.fail("delay shown as %q", v)
	}
}
