package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/treu-mail/treu/campaigns"
)

// The composer's UTM box: ticked for a new campaign, and unticking it turns
// the campaign's UTM parameters off (and the page shows it unticked).
func TestUICampaignUTM(t *testing.T) {
	env, eng, _ := newCampaignEnv(t)
	c := env.client()
	c.signIn()
	if r := c.get("/ui/campaigns/new"); !strings.Contains(r.Body, `name="utm" value="on" checked`) {
		t.Fatalf("a new campaign's UTM box is not ticked:\n%s", r.Body)
	}
	tok := c.csrfOf("/ui/campaigns/new")
	r := c.post("/ui/campaigns", url.Values{"csrf": {tok}, "name": {"Ohne UTM"}, "subject": {"x"}, "lists": {"newsletter"},
		"markdown": {"Hallo"}, "utm_shown": {"1"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", r.Status, r.Body)
	}
	list, err := eng.List(context.Background(), campaigns.ListOptions{})
	if err != nil || len(list) != 1 || list[0].UTM {
		t.Fatalf("saved: %+v %v", list, err)
	}
	if r := c.get(strings.TrimSuffix(r.Location, "?done=campaign-saved")); !strings.Contains(r.Body, `name="utm" value="on" aria-describedby`) {
		t.Fatalf("the box is ticked again:\n%s", r.Body)
	}
}
