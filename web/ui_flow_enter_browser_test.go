package web

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/treu-mail/treu/flows"
)

// TestBrowserFlowEnterKeepsSteps: pressing Enter in a field of the flow
// editor saves the flow; it used to press the first submit button, "Remove
// this step".
func TestBrowserFlowEnterKeepsSteps(t *testing.T) {
	env, m := newMoreEnv(t)
	b := newBrowser(t)
	b.signIn(env)
	ctx := context.Background()
	before, err := m.flows.Get(ctx, flows.CartAbandonment)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Steps) < 2 {
		t.Fatalf("the cart flow has %d steps; the test wants several", len(before.Steps))
	}
	b.do("open the cart flow",
		chromedp.Navigate(env.ts.URL+"/ui/flows/cart-abandonment"),
		chromedp.WaitVisible(chromedp.CSS(`#s1-subject`)))
	b.eval("change the second subject", `document.querySelector('#s1-subject').value = ''`)
	b.do("type and press Enter in the second step's subject",
		chromedp.SendKeys(chromedp.CSS(`#s1-subject`), "Noch da?"),
		chromedp.SendKeys(chromedp.CSS(`#s1-subject`), kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`.msg.ok`)))
	after, err := m.flows.Get(ctx, flows.CartAbandonment)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Steps) != len(before.Steps) {
		b.fail("Enter changed the steps from %d to %d", len(before.Steps), len(after.Steps))
	}
	if after.Steps[1].Subject != "Noch da?" || after.Steps[0].Subject != before.Steps[0].Subject {
		b.fail("Enter did not save the typed subject: %q, %q", after.Steps[0].Subject, after.Steps[1].Subject)
	}
	n := get(b, "count the steps on the page", chromedp.Evaluate[int](`document.querySelectorAll('[name$="].delay"]').length`))
	if n != len(before.Steps) {
		b.fail("the page shows %d steps, want %d", n, len(before.Steps))
	}
}
