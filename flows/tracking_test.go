package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/tracking"
)

// A cart reminder's links (the cart and its items, per recipient) go through
// the tracked redirect, registered in the tick's transaction; the pixel only
// for a subscriber who allows tracking.
func TestFlowLinksTracked(t *testing.T) {
	e := newEnv(t)
	tr := tracking.New(e.db, tracking.Config{BaseURL: "https://news.shop.example", Secret: []byte("s"), UTM: tracking.DefaultUTM}, nil, nil)
	eng, err := flows.New(e.db, e.q, links{}, nil, e.coupons, flows.Config{
		From: "news@shop.example", FromName: "Kaffee & Co.", ListID: "newsletter.shop.example",
		Footer: templates.Footer{ShopName: "Kaffee & Co."}, Tracking: tr,
	}, discard)
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	e.subscriber("kim@example.de", "de")
	e.subscriber("ali@example.de", "en")
	e.exec(`UPDATE subscribers SET tracking = 1 WHERE email = 'kim@example.de'`)
	e.cart("e1", "kim@example.de", "c1", t0)
	e.cart("e2", "ali@example.de", "c2", t0)
	if r := e.tick(t0.Add(61 * time.Minute)); r.Sent != 2 {
		t.Fatalf("tick: %+v", r)
	}
	m := e.mails()
	if len(m) != 2 {
		t.Fatalf("queued %d", len(m))
	}
	for _, q := range m {
		msg := q.msg
		if strings.Contains(msg.HTML, `href="https://shop.example`) || strings.Contains(msg.Text, "(https://shop.example") ||
			!strings.Contains(msg.HTML, `href="https://news.shop.example/l/`) {
			t.Errorf("%s: links not rewritten:\n%s\n%s", q.to, msg.HTML, msg.Text)
		}
		if !strings.Contains(msg.HTML, "https://news.shop.example/unsubscribe/tok") {
			t.Errorf("%s: unsubscribe link changed", q.to)
		}
		if pixel := strings.Contains(msg.HTML, "https://news.shop.example/o/"); pixel != (q.to == "kim@example.de") {
			t.Errorf("%s: pixel %v", q.to, pixel)
		}
	}
	var n int
	e.db.QueryRow(`SELECT count(*) FROM links WHERE mail = 'flow:cart-abandonment:0' AND url LIKE 'https://shop.example/cart/%'`).Scan(&n)
	if n != 2 {
		t.Errorf("cart links registered: %d", n)
	}
	i := strings.Index(m[1].msg.Text, "https://news.shop.example/l/") + len("https://news.shop.example/l/")
	target, err := tr.Click(ctx, m[1].msg.Text[i:i+tracking.TokenLen], tracking.Hit{})
	if err != nil || !strings.Contains(target, "utm_campaign=cart-abandonment") {
		t.Errorf("click: %s %v", target, err)
	}
}
