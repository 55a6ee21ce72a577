package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/internal/errs"
)

// The composer takes variants B-D and the test settings; a mistake comes
// back on the named field with everything typed kept; the running test
// shows each variant and a winner can be picked by hand.
func TestUIABTest(t *testing.T) {
	env, eng, svc := newCampaignEnv(t)
	ctx := context.Background()
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
		enroll(t, svc, e, "Kim")
	}
	c := env.client()
	c.signIn()
	r := c.get("/ui/campaigns/new")
	mustContain(t, "composer", r.Body, `id="ab-test"`, `name="variant_subject_1"`, `name="variant_markdown_3"`, `name="ab_share" min="5" max="50" step="any" value="20"`,
		`name="ab_wait" value="4h"`, `<option value="clicks" selected>`)
	tok := c.csrfOf("/ui/campaigns/new")
	form := func(kv ...string) url.Values {
		v := url.Values{"csrf": {tok}, "name": {"Herbst"}, "subject": {"Betreff A"}, "lists": {"newsletter"}, "markdown": {"Hallo A"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	// D without C: refused on C, and what was typed stays.
	r = c.post("/ui/campaigns", form("variant_subject_1", "Betreff B", "variant_subject_3", "Betreff D"))
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("gap: %d\n%s", r.Status, r.Body)
	}
	mustContain(t, "gap", r.Body, `value="Betreff B"`, `value="Betreff D"`, `name="variant_subject_2" value="" aria-invalid="true"`)
	r = c.post("/ui/campaigns", form("variant_subject_1", "Betreff B", "variant_markdown_1", "Hallo B", "ab_wait", "5 Tage", "ab_share", "30"))
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("bad wait: %d\n%s", r.Status, r.Body)
	}
	mustContain(t, "bad wait", r.Body, `value="Betreff B"`, ">Hallo B</textarea>", `name="ab_wait" value="5 Tage" placeholder="4h" aria-describedby="ab-wait-hint" aria-invalid="true"`,
		`name="ab_share" min="5" max="50" step="any" value="30"`)
	r = c.post("/ui/campaigns", form("variant_subject_1", "Betreff B", "ab_wait", "2h", "ab_share", "50", "ab_metric", "revenue"))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", r.Status, r.Body)
	}
	page := strings.TrimSuffix(r.Location, "?done=campaign-saved")
	list, _ := eng.List(ctx, campaigns.ListOptions{})
	cp := list[0]
	if len(cp.Variants) != 2 || cp.Variants[1].Subject != "Betreff B" || cp.Variants[1].Markdown != "Hallo A" ||
		cp.AB.TestShare != 0.5 || cp.AB.Wait != "2h" || cp.AB.Metric != "revenue" {
		t.Fatalf("saved: %+v %+v", cp.Variants, cp.AB)
	}
	mustContain(t, "campaign list", c.get("/ui/campaigns").Body, `title="A/B test">A/B</span>`)
	// Saving the page again keeps the test (nothing is lost on a round trip).
	r = c.get(page)
	mustContain(t, "saved composer", r.Body, `name="variant_subject_1" value="Betreff B"`, `value="50"`, `name="ab_wait" value="2h"`, `<option value="revenue" selected>`)

	r = c.post(page+"/start", url.Values{"csrf": {tok}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("start: %d\n%s", r.Status, r.Body)
	}
	r = c.get(page)
	mustContain(t, "running test", r.Body, `id="ab-results"`, `id="ab-row-A"`, `id="ab-row-B"`, `id="pick-winner"`,
		"recipients wait for it")
	r = c.post(page+"/winner", url.Values{"csrf": {tok}, "variant": {"9"}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("variant 9: %d", r.Status)
	}
	r = c.post(page+"/winner", url.Values{"csrf": {tok}, "variant": {"1"}})
	if r.Status != http.StatusSeeOther || !strings.HasSuffix(r.Location, "done=winner-picked") {
		t.Fatalf("pick: %d %s\n%s", r.Status, r.Location, r.Body)
	}
	r = c.get(r.Location)
	mustContain(t, "decided", r.Body, "Winner picked", `<tr id="ab-row-B" class="winner">`, "picked by hand")
	if strings.Contains(r.Body, `id="pick-winner"`) {
		t.Error("a decided test offers the pick again")
	}
}

// FuzzABForm: any composer form reads into a test of 2-4 variants or none,
// or an error naming a field, never a panic.
func FuzzABForm(f *testing.F) {
	f.Add("Betreff B", "", "", "Betreff D", "20", "4h", "clicks")
	f.Add("", "", "", "", "", "", "")
	f.Add("x", "y", "z", "", "7,5 %", "90m", "opens")
	f.Add("x", "", "", "", "abc", "", "likes")
	f.Fuzz(func(t *testing.T, b, bMD, c, d, share, wait, metric string) {
		form := url.Values{"variant_subject_1": {b}, "variant_markdown_1": {bMD}, "variant_subject_2": {c},
			"variant_subject_3": {d}, "ab_share": {share}, "ab_wait": {wait}, "ab_metric": {metric}}
		var in campaigns.Input
		err := abInput(form, &in)
		if err != nil {
			if e, ok := errs.As(err); !ok || e.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if n := len(in.Variants); n != 0 && (n < campaigns.MinVariants || n > campaigns.MaxVariants || in.AB == nil) {
			t.Fatalf("%d variants, ab %v", n, in.AB)
		}
	})
}
