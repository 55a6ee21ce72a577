package txmail

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
	"github.com/treu-mail/treu/templates"
)

type env struct {
	t      *testing.T
	db     *store.DB
	q      *mailer.Queue
	outbox *mailer.Outbox
	svc    *Service
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func newEnv(t *testing.T) *env {
	t.Helper()
	db := storetest.Open(t)
	db.Now = func() time.Time { return t0 }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	outbox := mailer.NewOutbox(db, log)
	q := mailer.NewQueue(db, outbox, log, mailer.QueueConfig{Workers: 1})
	q.Now = db.Now
	svc, err := New(db, q, Config{
		From: "shop@shop.example", FromName: "Beispiel-Shop",
		Footer: templates.Footer{ShopName: "Beispiel-Shop", Impressum: "Beispiel GmbH\nHauptstraße 1\n10115 Berlin"},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, q: q, outbox: outbox, svc: svc}
}

// delayed is a template with both locales that uses the data.
var delayed = Template{
	Name: "Lieferverzögerung",
	Locales: map[string]Text{
		"de": {Subject: "Ihre Bestellung {{ .Attr \"order_id\" }} verzögert sich", Markdown: `Hallo {{ .FirstName | default "Kundin, Kunde" }},

Ihre Bestellung **{{ .Attr "order_id" }}** kommt später: {{ .Attr "reason" }}.

{{ with .Attr "items" }}
{{ range . }}
- {{ .name }} × {{ .quantity }}
{{ end }}
{{ end }}

{{ with .Attr "carrier" }}Versand mit {{ .name }}.{{ end }}
`},
		// English reads the request's data the natural way; German the old.
		"en": {Subject: "Your order {{ .Data.order_id }} is delayed", Markdown: `Hello {{ .FirstName | default "there" }},

your order **{{ .Data.order_id }}** will arrive later: {{ .Data.reason }}.
{{ range .Data.items }}
- {{ .name }} × {{ .quantity }}
{{ end }}
`},
	},
}

func (e *env) put(slug string, t Template) {
	e.t.Helper()
	if _, _, err := e.svc.Put(context.Background(), slug, t); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) subscriber(email, name, locale, attrs string) int64 {
	e.t.Helper()
	var id int64
	err := e.db.Tx(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRowContext(context.Background(), `INSERT INTO subscribers
			(email, email_key, name, locale, attributes, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 'unsubscribed', 1, 1) RETURNING id`,
			email, strings.ToLower(email), name, locale, attrs).Scan(&id)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// queued reads the queue row of mail id.
type queuedRow struct {
	kind, recipient, status string
	subscriberID            sql.NullInt64
	message                 sql.NullString
	m                       mailer.Message
}

func (e *env) queued(id int64) queuedRow {
	e.t.Helper()
	var r queuedRow
	err := e.db.QueryRow(`SELECT kind, recipient, status, subscriber_id, message FROM mail_queue WHERE id = ?`, id).
		Scan(&r.kind, &r.recipient, &r.status, &r.subscriberID, &r.message)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.message.Valid {
		if err := json.Unmarshal([]byte(r.message.String), &r.m); err != nil {
			e.t.Fatal(err)
		}
	}
	return r
}

func (e *env) send(in SendInput) int64 {
	e.t.Helper()
	id, err := e.svc.Send(context.Background(), in)
	if err != nil {
		e.t.Fatalf("Send: %v", err)
	}
	return id
}

func TestTemplatesCRUD(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	got, created, err := e.svc.Put(ctx, "delayed", delayed)
	if err != nil || !created {
		t.Fatalf("first Put: created=%v err=%v", created, err)
	}
	if got.Slug != "delayed" || got.Name != "Lieferverzögerung" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("Put returned %+v", got)
	}
	e.db.Now = func() time.Time { return t0.Add(time.Hour) }
	upd := Template{Locales: map[string]Text{"de": delayed.Locales["de"]}}
	got, created, err = e.svc.Put(ctx, "delayed", upd)
	if err != nil || created {
		t.Fatalf("second Put: created=%v err=%v", created, err)
	}
	if got.Name != "delayed" || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("replaced template: %+v", got)
	}
	e.put("address-problem", Template{Name: "Adresse", Locales: map[string]Text{"en": {Subject: "Address", Markdown: "Please check your address."}}})

	g, err := e.svc.Get(ctx, "delayed")
	if err != nil || len(g.Locales) != 1 || g.Locales["de"] != delayed.Locales["de"] {
		t.Fatalf("Get: %+v %v", g, err)
	}
	ts, err := e.svc.List(ctx)
	if err != nil || len(ts) != 2 || ts[0].Slug != "address-problem" || ts[1].Slug != "delayed" {
		t.Fatalf("List: %+v %v", ts, err)
	}
	if err := e.svc.Delete(ctx, "delayed"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Get(ctx, "delayed"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := e.svc.Delete(ctx, "delayed"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Delete twice: %v", err)
	}
}

func TestPutInvalid(t *testing.T) {
	e := newEnv(t)
	one := func(loc, subject, md string) map[string]Text { return map[string]Text{loc: {subject, md}} }
	for _, tc := range []struct {
		name, slug string
		in         Template
		field, msg string
	}{
		{"slug", "Bad Slug", Template{Locales: one("de", "s", "m")}, "slug", "slug"},
		{"slug leading dash", "-x", Template{Locales: one("de", "s", "m")}, "slug", "slug"},
		{"name control", "x", Template{Name: "a\nb", Locales: one("de", "s", "m")}, "name", "line breaks"},
		{"no locales", "x", Template{}, "locales", "de"},
		{"unknown locale", "x", Template{Locales: one("fr", "s", "m")}, "locales", `"fr"`},
		{"subject missing", "x", Template{Locales: one("de", " ", "m")}, "locales.de.subject", "required"},
		{"markdown missing", "x", Template{Locales: one("en", "s", "")}, "locales.en.markdown", "required"},
		{"markdown syntax", "x", Template{Locales: one("de", "s", "Hallo\n\n{{ if .Name }}\nno end")}, "locales.de.markdown", "line"},
		{"markdown unknown field", "x", Template{Locales: one("en", "s", "Hi\n\n{{ .Order }}")}, "locales.en.markdown", "line 3"},
		{"subject syntax", "x", Template{Locales: one("de", "Bestellung {{ .Attr ", "m")}, "locales.de.subject", "line 1"},
		{"subject two lines", "x", Template{Locales: one("de", "a\nb", "m")}, "locales.de.subject", "one line"},
		{"second locale", "x", Template{Locales: map[string]Text{"de": {"s", "m"}, "en": {"s", "{{ .Nope }}"}}}, "locales.en.markdown", "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.svc.Put(context.Background(), tc.slug, tc.in)
			ee, ok := errs.As(err)
			if !ok || ee.Kind != errs.Invalid || ee.Field != tc.field || !strings.Contains(ee.Msg, tc.msg) {
				t.Fatalf("got %#v, want 422 %s containing %q", err, tc.field, tc.msg)
			}
		})
	}
	if ts, _ := e.svc.List(context.Background()); len(ts) != 0 {
		t.Fatalf("invalid templates saved: %+v", ts)
	}
}

func TestSendInvalid(t *testing.T) {
	e := newEnv(t)
	e.put("delayed", delayed)
	big := `{"x":"` + strings.Repeat("a", MaxData) + `"}`
	for _, tc := range []struct {
		name  string
		in    SendInput
		field string
	}{
		{"no template", SendInput{Email: "kim@example.com"}, "template"},
		{"unknown template", SendInput{Template: "nope", Email: "kim@example.com"}, "template"},
		{"no email", SendInput{Template: "delayed"}, "email"},
		{"bad email", SendInput{Template: "delayed", Email: "kim@"}, "email"},
		{"display name", SendInput{Template: "delayed", Email: "Kim <kim@example.com>"}, "email"},
		{"header injection", SendInput{Template: "delayed", Email: "kim@example.com\r\nBcc: all@example.com"}, "email"},
		{"second recipient", SendInput{Template: "delayed", Email: "kim@example.com,eve@example.com"}, "email"},
		{"locale", SendInput{Template: "delayed", Email: "kim@example.com", Locale: "fr"}, "locale"},
		{"data array", SendInput{Template: "delayed", Email: "kim@example.com", Data: json.RawMessage(`[1]`)}, "data"},
		{"data string", SendInput{Template: "delayed", Email: "kim@example.com", Data: json.RawMessage(`"x"`)}, "data"},
		{"data too large", SendInput{Template: "delayed", Email: "kim@example.com", Data: json.RawMessage(big)}, "data"},
		{"data name with newline", SendInput{Template: "delayed", Email: "kim@example.com", Data: json.RawMessage(`{"name":"Kim\r\nBcc: x@y.z"}`)}, "data.name"},
		{"subject renders empty", SendInput{Template: "subject-from-data", Email: "kim@example.com"}, "data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in.Template == "subject-from-data" {
				e.put("subject-from-data", Template{Locales: map[string]Text{"en": {`{{ .Attr "subject" }}`, "Body"}}})
			}
			_, err := e.svc.Send(context.Background(), tc.in)
			ee, ok := errs.As(err)
			if !ok || ee.Kind != errs.Invalid || ee.Field != tc.field {
				t.Fatalf("got %#v, want 422 naming %s", err, tc.field)
			}
		})
	}
	var n int
	if err := e.db.QueryRow(`SELECT count(*) FROM mail_queue`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d mails queued by refused requests (%v)", n, err)
	}
}

func TestSendQueuesTransactionalMail(t *testing.T) {
	e := newEnv(t)
	e.put("delayed", delayed)
	sid := e.subscriber("Kim@Example.com", "Kim Muster", "de", `{"city":"Berlin","order_id":"old"}`)
	id := e.send(SendInput{Template: "delayed", Email: "kim@example.com", Data: json.RawMessage(`{
		"order_id": 12345678, "reason": "Streik <b>beim</b> Spediteur",
		"items": [{"name": "Tee", "quantity": 2}, {"name": "Becher", "quantity": 1}],
		"carrier": {"name": "DHL"}}`)})

	r := e.queued(id)
	if r.kind != "tx" || r.status != "queued" || r.recipient != "kim@example.com" || r.subscriberID.Int64 != sid {
		t.Fatalf("queue row: %+v", r)
	}
	m := r.m
	if m.ListID != "" || m.UnsubscribeURL != "" || m.UnsubscribeMailto != "" {
		t.Fatalf("transactional mail with marketing headers: %+v", m)
	}
	if m.Subject != "Ihre Bestellung 12345678 verzögert sich" || m.ToName != "Kim Muster" || m.From != "shop@shop.example" {
		t.Fatalf("subject %q to_name %q from %q", m.Subject, m.ToName, m.From)
	}
	for _, want := range []string{"Hallo Kim,", "12345678", "Streik <b>beim</b> Spediteur", "- Tee × 2", "- Becher × 1",
		"Versand mit DHL.", "Beispiel GmbH", "Hauptstraße 1"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if strings.Contains(m.HTML, "<b>beim</b>") || !strings.Contains(m.HTML, "&lt;b&gt;beim&lt;/b&gt;") {
		t.Errorf("data not escaped in HTML")
	}
	for _, no := range []string{"Abmelden", "Einstellungen", "angemeldet", "/unsubscribe"} {
		if strings.Contains(m.Text, no) || strings.Contains(m.HTML, no) {
			t.Errorf("transactional mail mentions %q", no)
		}
	}

	raw, err := mailer.Build(&m, t0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := mailer.ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"} {
		if v := p.Header.Get(h); v != "" {
			t.Errorf("built mail has %s: %s", h, v)
		}
	}
	if p.Header.Get("X-Treu-Template") != "delayed" || p.Subject != m.Subject || p.HTML == "" {
		t.Errorf("built mail: template %q subject %q html %d bytes", p.Header.Get("X-Treu-Template"), p.Subject, len(p.HTML))
	}

	// Delivered: the body, personal data, leaves the queue.
	if n, err := e.q.ProcessDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("ProcessDue: %d %v", n, err)
	}
	if r := e.queued(id); r.status != "sent" || r.message.Valid {
		t.Fatalf("after delivery: status %s, message kept: %v", r.status, r.message.Valid)
	}
	ms, err := e.outbox.List(context.Background(), 10, 0)
	if err != nil || len(ms) != 1 || ms[0].Kind != "tx" {
		t.Fatalf("outbox: %+v %v", ms, err)
	}
}

func TestSendLocale(t *testing.T) {
	e := newEnv(t)
	e.put("both", delayed)
	e.put("de-only", Template{Locales: map[string]Text{"de": delayed.Locales["de"]}})
	e.subscriber("de@example.com", "", "de", "{}")
	e.subscriber("en@example.com", "", "en", "{}")
	for _, tc := range []struct {
		name, template, email, locale, want string
	}{
		{"stranger gets en", "both", "new@example.com", "", "Your order"},
		{"subscriber's locale", "both", "de@example.com", "", "Ihre Bestellung"},
		{"request beats subscriber", "both", "de@example.com", "en", "Your order"},
		{"request locale variant", "both", "en@example.com", "de-AT", "Ihre Bestellung"},
		{"missing locale falls back", "de-only", "en@example.com", "en", "Ihre Bestellung"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.send(SendInput{Template: tc.template, Email: tc.email, Locale: tc.locale, Data: json.RawMessage(`{"order_id":"A-1"}`)})
			if s := e.queued(id).m.Subject; !strings.HasPrefix(s, tc.want) {
				t.Fatalf("subject %q, want %q...", s, tc.want)
			}
		})
	}
}

func TestSendToStranger(t *testing.T) {
	e := newEnv(t)
	e.put("delayed", delayed)
	id := e.send(SendInput{Template: "delayed", Email: "new@EXAMPLE.com", Data: json.RawMessage(`{"name":"Alex Beispiel","order_id":"A-7"}`)})
	r := e.queued(id)
	if r.subscriberID.Valid || r.recipient != "new@example.com" || r.m.ToName != "Alex Beispiel" ||
		!strings.Contains(r.m.Text, "Hello Alex,") {
		t.Fatalf("queue row %+v\n%s", r, r.m.Text)
	}
	var n int
	if err := e.db.QueryRow(`SELECT count(*) FROM subscribers`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("Send created %d subscribers (%v)", n, err)
	}
}

// An erased address (suppressed, no subscriber) still gets mail about its
// order; nothing about the person is kept beyond the queue row.
func TestSendToErasedAddress(t *testing.T) {
	e := newEnv(t)
	e.put("delayed", delayed)
	h := sha256.Sum256([]byte("gone@example.com"))
	err := e.db.Tx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.ExecContext(context.Background(), `INSERT INTO suppressions (email_hash, reason, created_at) VALUES (?, 'erased', 1)`,
			hex.EncodeToString(h[:]))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	id := e.send(SendInput{Template: "delayed", Email: "gone@example.com", Data: json.RawMessage(`{"order_id":"A-9"}`)})
	if r := e.queued(id); r.subscriberID.Valid || r.kind != "tx" {
		t.Fatalf("queue row %+v", r)
	}
	if _, err := e.q.ProcessDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := e.queued(id); r.status != "sent" || r.message.Valid {
		t.Fatalf("after delivery: %+v", r)
	}
}

func TestParseDataNumbers(t *testing.T) {
	m, err := parseData(json.RawMessage(`{"id": 12345678, "big": 12345678901234567890, "total": 59.8, "n": [1, 2.5], "o": {"x": -3}}`))
	if err != nil {
		t.Fatal(err)
	}
	if m["id"] != int64(12345678) || m["total"] != 59.8 || m["big"] != 12345678901234567890.0 {
		t.Fatalf("%#v", m)
	}
	if n := m["n"].([]any); n[0] != int64(1) || n[1] != 2.5 {
		t.Fatalf("%#v", n)
	}
	if o := m["o"].(map[string]any); o["x"] != int64(-3) {
		t.Fatalf("%#v", o)
	}
}

func FuzzParseData(f *testing.F) {
	f.Add(`{"order_id": 1, "items": [{"name": "Tee"}]}`)
	f.Add(`null`)
	f.Add(`{"a": 1e400}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseData(json.RawMessage(s))
		if err != nil && m != nil {
			t.Fatal("error and a value")
		}
	})
}

func BenchmarkSend(b *testing.B) {
	db := storetest.Open(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := mailer.NewQueue(db, mailer.NewOutbox(db, log), log, mailer.QueueConfig{})
	svc, err := New(db, q, Config{From: "shop@shop.example", Footer: templates.Footer{ShopName: "Shop", Impressum: "Shop GmbH"}}, log)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := svc.Put(context.Background(), "delayed", delayed); err != nil {
		b.Fatal(err)
	}
	in := SendInput{Template: "delayed", Email: "kim@example.com", Data: json.RawMessage(`{"order_id":"A-1","reason":"Streik"}`)}
	for b.Loop() {
		if _, err := svc.Send(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDataSyntax: {{ .Data.key }} reads the request's data; a subscriber
// attribute of the same name does not leak into it; {{ .Attr "key" }} still works.
func TestDataSyntax(t *testing.T) {
	e := newEnv(t)
	e.put("delayed", delayed)
	e.subscriber("jo@example.com", "Jo", "en", `{"reason":"attribute"}`)
	id := e.send(SendInput{Template: "delayed", Email: "jo@example.com", Data: json.RawMessage(`{
		"order_id": "A-42", "items": [{"name": "Tee", "quantity": 2}]}`)})
	m := e.queued(id).m
	if m.Subject != "Your order A-42 is delayed" {
		t.Fatalf("subject %q", m.Subject)
	}
	for _, want := range []string{"your order A-42 will arrive later: .", "- Tee × 2"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	id = e.send(SendInput{Template: "delayed", Email: "jo@example.com", Locale: "de", Data: json.RawMessage(`{"order_id": "A-43"}`)})
	if m := e.queued(id).m; !strings.Contains(m.Subject, "A-43") || !strings.Contains(m.Text, "kommt später: attribute") {
		t.Errorf("old syntax: %q\n%s", m.Subject, m.Text)
	}
}
