package campaigns

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/internal/errs"
)

// A campaign that prints {{ .Coupon }} needs a pool; with one, every
// recipient gets their own code, kept on the delivery; when the pool runs dry
// the campaign pauses instead of mailing empty codes, and resumes with the
// same codes for those already assigned.
func TestCampaignCoupons(t *testing.T) {
	cfg := testConfig()
	cfg.BatchSize = 10
	ctx := context.Background()
	h := newHarness(t, cfg, nil)
	pools := coupons.New(h.db, testLog())
	t.Cleanup(func() { pools.Close() })
	h.e.cfg.Pools = pools
	if _, err := pools.CreatePool(ctx, "herbst", "Herbst"); err != nil {
		t.Fatal(err)
	}
	var codes []string
	for i := range 25 {
		codes = append(codes, fmt.Sprintf("HERBST-%03d", i))
	}
	if _, err := pools.AddCodes(ctx, "herbst", codes); err != nil {
		t.Fatal(err)
	}
	seed(t, h.db, activePeople(30))
	md := "Ihr Code: **{{ .Coupon }}**"

	for _, tc := range []struct{ name, pool, msg string }{
		{"no pool", "", "uses {{ .Coupon }}"},
		{"unknown pool", "winter", `"winter" does not exist`},
	} {
		_, err := h.e.Create(ctx, Input{Subject: "s", Markdown: md, CouponPool: tc.pool})
		if e, ok := errs.As(err); !ok || e.Kind != errs.Invalid || e.Field != "coupon_pool" {
			t.Fatalf("%s: got %v, want a 422 on coupon_pool", tc.name, err)
		}
	}
	c := mustCreate(t, h.e, Input{Subject: "Herbst", Markdown: md, CouponPool: "herbst"})
	if c.CouponPool != "herbst" {
		t.Fatalf("coupon_pool = %q", c.CouponPool)
	}
	pv, err := h.e.Preview(ctx, Input{Subject: "s", Markdown: md, CouponPool: "herbst"}, 0)
	if err != nil || !has(pv.Text, sampleCoupon) {
		t.Fatalf("preview: %v\n%s", err, pv.Text)
	}
	if _, err := h.e.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	h.run(t)
	h.wait(t, c.ID, Paused)

	codeRE := regexp.MustCompile(`HERBST-\d{3}`)
	seen := map[string]string{}
	check := func() {
		for rcpt, msgs := range h.snk.received() {
			for _, m := range msgs {
				code := codeRE.FindString(m.Text)
				if code == "" {
					t.Fatalf("%s got a mail without a code:\n%s", rcpt, m.Text)
				}
				if other, ok := seen[code]; ok && other != rcpt {
					t.Fatalf("code %s went to %s and %s", code, other, rcpt)
				}
				seen[code] = rcpt
			}
		}
	}
	check()
	if len(seen) > 25 {
		t.Fatalf("%d codes used, pool had 25", len(seen))
	}
	var kept int
	h.db.QueryRow(`SELECT count(*) FROM deliveries WHERE campaign_id = ? AND coupon IS NOT NULL`, c.ID).Scan(&kept)
	if kept != 25 {
		t.Fatalf("%d deliveries keep a code, want 25", kept)
	}

	// More codes, resume: everyone gets exactly one mail with one code.
	var more []string
	for i := range 10 {
		more = append(more, fmt.Sprintf("HERBST-%03d", 100+i))
	}
	if _, err := pools.AddCodes(ctx, "herbst", more); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Resume(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	h.wait(t, c.ID, Finished)
	seen = map[string]string{}
	check()
	got := h.snk.received()
	if len(got) != 30 || len(seen) != 30 {
		t.Fatalf("%d recipients, %d codes; want 30 each", len(got), len(seen))
	}
	for rcpt, msgs := range got {
		if len(msgs) != 1 {
			t.Fatalf("%s got %d mails", rcpt, len(msgs))
		}
	}
	p, err := pools.Get(ctx, "herbst")
	if err != nil || p.Assigned != 30 {
		t.Fatalf("pool: %+v %v", p, err)
	}
}
