package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The retention page lists the detractors (NPS 0 to 6) to call back.
func TestUIRetentionCallBack(t *testing.T) {
	e := newRetentionEnv(t)
	c := e.client()
	c.signIn()
	if r := c.get("/ui/retention"); r.Status != http.StatusOK || !strings.Contains(r.Body, "No answers from 0 to 6 yet.") {
		t.Fatalf("empty call-back list: %d\n%s", r.Status, r.Body)
	}
	ctx := context.Background()
	lo := enroll(t, e.subs, "lo@example.com", "Lo")
	hi := enroll(t, e.subs, "hi@example.com", "Hi")
	if err := e.ret.Answer(ctx, lo.ID, "order:1", 3); err != nil {
		t.Fatal(err)
	}
	if err := e.ret.Comment(ctx, lo.ID, "order:1", "Paket kam beschädigt an"); err != nil {
		t.Fatal(err)
	}
	if err := e.ret.Answer(ctx, hi.ID, "order:2", 10); err != nil {
		t.Fatal(err)
	}
	r := c.get("/ui/retention")
	mustContain(t, "call-back list", r.Body, `id="callback"`, "lo@example.com", "Paket kam beschädigt an", "<td>3</td>")
	if strings.Contains(r.Body, "hi@example.com") {
		t.Fatal("a promoter is on the call-back list")
	}
	c.post("/ui/lang", url.Values{"csrf": {c.csrfOf("/ui/")}, "lang": {"de"}, "back": {"/ui/"}})
	mustContain(t, "German call-back list", c.get("/ui/retention").Body, "Zurückrufen", "Kommentar")
}
