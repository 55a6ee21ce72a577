package web

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserNewFlow: on the New flow page the first mail's preview shows
// the sample event's data as it is typed, and creating the flow opens its
// editor.
func TestBrowserNewFlow(t *testing.T) {
	env, m := newMoreEnv(t)
	b := newBrowser(t)
	b.signIn(env)
	b.do("open the new flow page",
		chromedp.Navigate(env.ts.URL+"/ui/flows/new"),
		chromedp.WaitVisible(chromedp.CSS(`#s0-subject`)))
	b.do("fill in the flow",
		chromedp.SendKeys(chromedp.CSS(`#n-name`), "Shipped"),
		chromedp.SendKeys(chromedp.CSS(`#n-slug`), "shipped"),
		chromedp.SendKeys(chromedp.CSS(`#n-event`), "order.shipped"),
		chromedp.SendKeys(chromedp.CSS(`#s0-subject`), "Order {{ .Event.order.id }} is on its way"),
		chromedp.SendKeys(chromedp.CSS(`#s0-markdown`), "Track it: {{ .Event.data.tracking_url }}"))
	get(b, "the typed subject in the preview", chromedp.Poll[bool](`!!document.querySelector('#flow-preview-subject-0') &&
		document.querySelector('#flow-preview-subject-0').textContent === 'Order 1001 is on its way'`,
		chromedp.WithPollingTimeout(stepTimeout-time.Second)))
	b.do("create the flow",
		chromedp.Click(chromedp.CSS(`#flow-new button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.msg.ok`)))
	f, err := m.flows.Get(context.Background(), "shipped")
	if err != nil || f.Trigger.Event != "order.shipped" || f.Steps[0].Subject != "Order {{ .Event.order.id }} is on its way" {
		b.fail("created flow: %+v %v", f, err)
	}
}
