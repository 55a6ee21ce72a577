package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/treu-mail/treu/campaigns"
)

// The composer's contact policy select: skip for a new campaign; choosing
// wait saves it and the page shows it chosen; a made-up value is a 422 on
// the field and saves nothing.
func TestUICampaignContactPolicy(t *testing.T) {
	env, eng, _ := newCampaignEnv(t)
	c := env.client()
	c.signIn()
	if r := c.get("/ui/campaigns/new"); !strings.Contains(r.Body, `<option value="skip" selected>`) {
		t.Fatalf("a new campaign does not default to skip:\n%s", r.Body)
	}
	tok := c.csrfOf("/ui/campaigns/new")
	form := url.Values{"csrf": {tok}, "name": {"Warten"}, "subject": {"x"}, "lists": {"newsletter"},
		"markdown": {"Hallo"}, "contact_policy": {"sometimes"}}
	if r := c.post("/ui/campaigns", form); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="c-contact" name="contact_policy" aria-describedby="contact-hint" aria-invalid="true"`) {
		t.Fatalf("bad value: %d\n%s", r.Status, r.Body)
	}
	form.Set("contact_policy", "wait")
	r := c.post("/ui/campaigns", form)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", r.Status, r.Body)
	}
	list, err := eng.List(context.Background(), campaigns.ListOptions{})
	if err != nil || len(list) != 1 || list[0].ContactPolicy != campaigns.ContactWait {
		t.Fatalf("saved: %+v %v", list, err)
	}
	if r := c.get(strings.TrimSuffix(r.Location, "?done=campaign-saved")); !strings.Contains(r.Body, `<option value="wait" selected>`) {
		t.Fatalf("wait is not shown chosen:\n%s", r.Body)
	}
}
