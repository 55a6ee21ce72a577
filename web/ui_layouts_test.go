package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/txmail"
)

// The layout editor's methods, for tests that build the engine late.
func (l lateCampaigns) GetLayout(ctx context.Context, id int64) (campaigns.Layout, error) {
	return (*l.e).GetLayout(ctx, id)
}
func (l lateCampaigns) CreateLayout(ctx context.Context, in campaigns.LayoutInput) (campaigns.Layout, error) {
	return (*l.e).CreateLayout(ctx, in)
}
func (l lateCampaigns) UpdateLayout(ctx context.Context, id int64, in campaigns.LayoutInput) (campaigns.Layout, error) {
	return (*l.e).UpdateLayout(ctx, id, in)
}
func (l lateCampaigns) DeleteLayout(ctx context.Context, id int64) error {
	return (*l.e).DeleteLayout(ctx, id)
}
func (l lateCampaigns) PreviewLayout(ctx context.Context, html string) (templates.Rendered, error) {
	return (*l.e).PreviewLayout(ctx, html)
}

func TestUILayoutEditor(t *testing.T) {
	env, eng, _ := newCampaignEnvWith(t, nil)
	c := env.client()
	c.signIn()
	tok := c.csrfOf("/ui/layouts/new")
	if r := c.get("/ui/layouts/new"); r.Status != 200 || !strings.Contains(r.Body, "{{ footer }}") {
		t.Fatalf("new layout page = %d; it should start from the default layout", r.Status)
	}

	// The live preview: the sample mail in the layout, with the footer added.
	layout := `<html><body><div class="autumn">{{ content }}</div></body></html>`
	r := c.post("/ui/layouts/preview", url.Values{"csrf": {tok}, "html": {layout}})
	if r.Status != 200 || !strings.Contains(r.Body, "autumn") || !strings.Contains(r.Body, "Laden am Eck GmbH") {
		t.Fatalf("preview = %d:\n%s", r.Status, r.Body)
	}
	r = c.post("/ui/layouts/preview", url.Values{"csrf": {tok}, "html": {`<body><script>x</script>{{ content }}</body>`}})
	if r.Status != 200 || !strings.Contains(r.Body, "&lt;script&gt; is not allowed") {
		t.Fatalf("preview of a script = %d:\n%s", r.Status, r.Body)
	}

	// A refused layout keeps what was typed and names the field.
	r = c.post("/ui/layouts", url.Values{"csrf": {tok}, "name": {"Herbst"}, "html": {`<body><a href="javascript:x()">a</a>{{ content }}</body>`}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "javascript: URLs are not allowed") ||
		!strings.Contains(r.Body, `id="l-html" name="html" class="json" rows="24" spellcheck="false" aria-describedby="l-hint" aria-invalid="true"`) {
		t.Fatalf("refused layout = %d:\n%s", r.Status, r.Body)
	}
	r = c.post("/ui/layouts", url.Values{"csrf": {tok}, "name": {"Herbst"}, "html": {layout}})
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/ui/layouts/") {
		t.Fatalf("save = %d %q\n%s", r.Status, r.Location, r.Body)
	}
	ls, err := eng.ListLayouts(context.Background())
	if err != nil || len(ls) != 1 || ls[0].Name != "Herbst" {
		t.Fatalf("layouts = %+v %v", ls, err)
	}
	page := c.get(r.Location)
	if page.Status != 200 || !strings.Contains(page.Body, "Layout saved.") || !strings.Contains(page.Body, "autumn") {
		t.Fatalf("layout page = %d", page.Status)
	}
	if r := c.get("/ui/layouts"); !strings.Contains(r.Body, ">Herbst</a>") {
		t.Fatalf("list lacks the layout:\n%s", r.Body)
	}
	path, _, _ := strings.Cut(r.Location, "?")
	r = c.post(path+"/delete", url.Values{"csrf": {tok}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("delete = %d", r.Status)
	}
	if ls, _ := eng.ListLayouts(context.Background()); len(ls) != 0 {
		t.Fatalf("still there: %+v", ls)
	}
}

func TestUITxTemplates(t *testing.T) {
	env := newUIEnv(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := txmail.New(env.db, mailer.NewQueue(env.db, nil, log, mailer.QueueConfig{}), txmail.Config{From: "shop@shop.example",
		Footer: templates.Footer{ShopName: "Laden am Eck", Impressum: "Laden am Eck GmbH"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	env.srv.tx = txAPI{svc: svc}
	c := env.client()
	c.signIn()
	tok := c.csrfOf("/ui/tx/new")
	form := url.Values{"csrf": {tok}, "slug": {"delayed"}, "name": {"Verzögerung"},
		"de_subject": {"Bestellung {{ .Data.order_id }}"}, "de_markdown": {"Ihre Bestellung **{{ .Data.order_id }}** kommt später."}}
	r := c.post("/ui/tx/preview", form)
	if r.Status != 200 || !strings.Contains(r.Body, "Bestellung 100123") || !strings.Contains(r.Body, "Laden am Eck GmbH") {
		t.Fatalf("preview = %d:\n%s", r.Status, r.Body)
	}
	bad := url.Values{"csrf": {tok}, "slug": {"x"}, "de_subject": {"s"}, "de_markdown": {"a\n{{ .Nope }}"}}
	if r := c.post("/ui/tx", bad); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "line 2") {
		t.Fatalf("bad template = %d:\n%s", r.Status, r.Body)
	}
	r = c.post("/ui/tx", form)
	if r.Status != http.StatusSeeOther || r.Location != "/ui/tx/delayed?done=tx-saved" {
		t.Fatalf("save = %d %q\n%s", r.Status, r.Location, r.Body)
	}
	if r := c.post("/ui/tx", form); r.Status != http.StatusConflict {
		t.Fatalf("same slug again = %d", r.Status)
	}
	form.Set("en_subject", "Order {{ .Data.order_id }}")
	form.Set("en_markdown", "Your order is late.")
	if r := c.post("/ui/tx/delayed", form); r.Status != http.StatusSeeOther {
		t.Fatalf("update = %d\n%s", r.Status, r.Body)
	}
	got, err := svc.Get(context.Background(), "delayed")
	if err != nil || len(got.Locales) != 2 || got.Locales["en"].Subject != "Order {{ .Data.order_id }}" {
		t.Fatalf("saved = %+v %v", got, err)
	}
	if r := c.get("/ui/tx"); !strings.Contains(r.Body, "<code>delayed</code>") {
		t.Fatalf("list:\n%s", r.Body)
	}
	if r := c.post("/ui/tx/delayed/delete", url.Values{"csrf": {tok}}); r.Status != http.StatusSeeOther {
		t.Fatalf("delete = %d", r.Status)
	}
	if _, err := svc.Get(context.Background(), "delayed"); err == nil {
		t.Fatal("still there")
	}
}
