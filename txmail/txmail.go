package txmail

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
)

// Locales a template can hold, in the order of last resort: a recipient
// whose locale the template lacks gets English, then German.
var Locales = []string{"en", "de"}

// Limits.
const (
	MaxData     = 16 << 10 // the request's data object, as JSON
	maxName     = 200      // runes
	maxSubject  = 500      // runes, as mailer allows
	maxMarkdown = 100_000  // bytes per locale
	cacheSize   = 64       // compiled texts kept
)

// Kind is the mail_queue kind of a transactional mail.
const Kind = "tx"

// Template is GET|PUT /api/tx-templates/{slug}.
type Template struct {
	Slug      string          `json:"slug"`
	Name      string          `json:"name"`
	Locales   map[string]Text `json:"locales"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Text is a template's subject and Markdown in one locale.
type Text struct {
	Subject  string `json:"subject"`
	Markdown string `json:"markdown"`
}

// SendInput is the body of POST /api/tx.
type SendInput struct {
	Template string          `json:"template"`
	Email    string          `json:"email"`
	Data     json.RawMessage `json:"data,omitempty"`   // a JSON object or absent
	Locale   string          `json:"locale,omitempty"` // "de" or "en" (also "de-AT"...); "" = the subscriber's
}

// Queue is what Send needs of the mailer's durable queue. *mailer.Queue is one.
type Queue interface {
	Enqueue(ctx context.Context, tx *store.Tx, m *mailer.Message) (int64, error)
}

// Config is the service's wiring.
type Config struct {
	From, FromName, ReplyTo string
	Footer                  templates.Footer // shop name and Impressum; required by law in every mail
	Layout                  string           // "" = templates' default layout
}

// Service stores transactional templates and sends transactional mail.
type Service struct {
	db  *store.DB
	q   Queue
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	cache map[cacheKey]*templates.Template
}

// cacheKey is a text as it is compiled: a saved change is a new key, so the
// cache never serves a stale text, on this instance or another.
type cacheKey struct {
	locale string
	Text
}

// New checks cfg and returns the service.
func New(db *store.DB, q Queue, cfg Config, log *slog.Logger) (*Service, error) {
	if log == nil {
		return nil, errors.New("txmail: nil logger")
	}
	if db == nil || q == nil {
		return nil, errors.New("txmail: nil database or queue")
	}
	if cfg.From == "" {
		return nil, errors.New("txmail: Config.From is required")
	}
	return &Service{db: db, q: q, cfg: cfg, log: log, cache: map[cacheKey]*templates.Template{}}, nil
}

// Put creates or replaces the template slug; created is true for a new one.
func (s *Service) Put(ctx context.Context, slug string, in Template) (t Template, created bool, err error) {
	if !validSlug(slug) {
		return Template{}, false, errs.Invalidf("slug", "slug must be 1-64 lower-case letters, digits, - or _, starting with a letter or digit")
	}
	name, err := cleanName(in.Name)
	if err != nil {
		return Template{}, false, err
	}
	if name == "" {
		name = slug
	}
	if len(in.Locales) == 0 {
		return Template{}, false, errs.Invalidf("locales", `locales needs a text for "de" or "en" or both`)
	}
	// Checked in a fixed order, so the same body always names the same field.
	for _, loc := range []string{"de", "en"} {
		if t, ok := in.Locales[loc]; ok {
			if err := s.check("locales."+loc, loc, t); err != nil {
				return Template{}, false, err
			}
		}
	}
	for loc := range in.Locales {
		if loc != "de" && loc != "en" {
			return Template{}, false, errs.Invalidf("locales", "locale %q: use de or en", loc)
		}
	}
	locales, err := json.Marshal(in.Locales)
	if err != nil {
		return Template{}, false, fmt.Errorf("txmail: put %s: %w", slug, err)
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		now := tx.Now.Unix()
		createdAt := now
		err := tx.QueryRowContext(ctx, `SELECT created_at FROM tx_templates WHERE slug = ?`, slug).Scan(&createdAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
			_, err = tx.ExecContext(ctx, `INSERT INTO tx_templates (slug, name, locales, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?)`, slug, name, string(locales), now, now)
		case err == nil:
			_, err = tx.ExecContext(ctx, `UPDATE tx_templates SET name = ?, locales = ?, updated_at = ? WHERE slug = ?`,
				name, string(locales), now, slug)
		}
		if err != nil {
			return err
		}
		t = Template{Slug: slug, Name: name, Locales: in.Locales, CreatedAt: unixTime(createdAt), UpdatedAt: unixTime(now)}
		return nil
	})
	if err != nil {
		return Template{}, false, fmt.Errorf("txmail: put %s: %w", slug, err)
	}
	return t, created, nil
}

// check validates one locale's text and compiles it, so that a template
// error is a 422 naming "locales.de.markdown" with its line.
func (s *Service) check(field, locale string, t Text) error {
	switch {
	case strings.TrimSpace(t.Subject) == "":
		return errs.Invalidf(field+".subject", "%s.subject is required", field)
	case utf8.RuneCountInString(t.Subject) > maxSubject:
		return errs.Invalidf(field+".subject", "%s.subject is longer than %d characters", field, maxSubject)
	case strings.TrimSpace(t.Markdown) == "":
		return errs.Invalidf(field+".markdown", "%s.markdown is required", field)
	case len(t.Markdown) > maxMarkdown:
		return errs.Invalidf(field+".markdown", "%s.markdown is larger than %d bytes", field, maxMarkdown)
	}
	if _, err := s.compiled(locale, t); err != nil {
		if ee, ok := errs.As(err); ok && ee.Field != "" {
			return errs.Invalidf(field+"."+ee.Field, "%s.%s: %s", field, ee.Field, ee.Msg)
		}
		return errs.Invalidf(field+".markdown", "%s: %v", field, err)
	}
	return nil
}

// compiled returns the compiled text from the cache, compiling it on a miss.
// Compiling costs milliseconds; an order mail goes out many times a day.
func (s *Service) compiled(locale string, t Text) (*templates.Template, error) {
	k := cacheKey{locale, t}
	s.mu.Lock()
	c := s.cache[k]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := templates.Compile(templates.Source{
		Subject: t.Subject, Markdown: t.Markdown, Layout: s.cfg.Layout, Footer: s.cfg.Footer, Locale: locale,
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.cache) >= cacheSize {
		clear(s.cache) // texts change rarely; bounded so edits cannot grow it
	}
	s.cache[k] = c
	s.mu.Unlock()
	return c, nil
}

// previewData is what the editor's preview fills a template with.
var previewData = map[string]any{
	"order_id": "100123", "reason": "Streik beim Spediteur",
	"items": []any{map[string]any{"name": "Tee", "quantity": 2}},
}

// Preview renders one locale's text for a sample recipient and sample data,
// as the UI's editor shows it while the marketer types. A fault is the
// errs.Invalid that saving would give, naming "locales.LOCALE.markdown" and
// its line. The compiled text is not cached: drafts would evict real ones.
func (s *Service) Preview(ctx context.Context, locale string, t Text) (templates.Rendered, error) {
	if locale != "de" && locale != "en" {
		return templates.Rendered{}, errs.Invalidf("locale", "locale %q: use de or en", locale)
	}
	field := "locales." + locale
	if strings.TrimSpace(t.Markdown) == "" {
		return templates.Rendered{}, errs.Invalidf(field+".markdown", "%s.markdown is required", field)
	}
	if len(t.Markdown) > maxMarkdown || utf8.RuneCountInString(t.Subject) > maxSubject {
		return templates.Rendered{}, errs.Invalidf(field+".markdown", "%s is too long", field)
	}
	c, err := templates.Compile(templates.Source{
		Subject: t.Subject, Markdown: t.Markdown, Layout: s.cfg.Layout, Footer: s.cfg.Footer, Locale: locale,
	})
	if err != nil {
		if ee, ok := errs.As(err); ok && ee.Field != "" {
			return templates.Rendered{}, errs.Invalidf(field+"."+ee.Field, "%s.%s: %s", field, ee.Field, ee.Msg)
		}
		return templates.Rendered{}, err
	}
	return c.Render(&templates.Data{Email: "kundin@example.com", Name: "Alex Beispiel", Locale: locale,
		Data: previewData, Attributes: previewData})
}

const selectTemplate = `SELECT slug, name, locales, created_at, updated_at FROM tx_templates`

// Get returns the template slug, or a NotFound.
func (s *Service) Get(ctx context.Context, slug string) (Template, error) {
	t, err := scanTemplate(s.db.QueryRowContext(ctx, selectTemplate+` WHERE slug = ?`, slug))
	if errors.Is(err, sql.ErrNoRows) {
		return Template{}, errs.NotFoundf("no transactional template %q", truncate(slug, 64))
	}
	if err != nil {
		return Template{}, fmt.Errorf("txmail: load %s: %w", truncate(slug, 64), err)
	}
	return t, nil
}

// List returns every template by slug.
func (s *Service) List(ctx context.Context) ([]Template, error) {
	rows, err := s.db.QueryContext(ctx, selectTemplate+` ORDER BY slug`)
	if err != nil {
		return nil, fmt.Errorf("txmail: list: %w", err)
	}
	defer rows.Close()
	ts := []Template{}
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, fmt.Errorf("txmail: list: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("txmail: list: %w", err)
	}
	return ts, nil
}

// Delete removes the template slug. Mail already queued with it still goes out.
func (s *Service) Delete(ctx context.Context, slug string) error {
	var n int64
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tx_templates WHERE slug = ?`, slug)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("txmail: delete %s: %w", truncate(slug, 64), err)
	}
	if n == 0 {
		return errs.NotFoundf("no transactional template %q", truncate(slug, 64))
	}
	return nil
}

func scanTemplate(sc interface{ Scan(...any) error }) (Template, error) {
	var t Template
	var locales string
	var created, updated int64
	if err := sc.Scan(&t.Slug, &t.Name, &locales, &created, &updated); err != nil {
		return Template{}, err
	}
	if err := json.Unmarshal([]byte(locales), &t.Locales); err != nil {
		return Template{}, fmt.Errorf("template %s: locales: %w", t.Slug, err)
	}
	t.CreatedAt, t.UpdatedAt = unixTime(created), unixTime(updated)
	return t, nil
}

// recipient is what Treu knows about the address, if it is a subscriber.
type recipient struct {
	id                 int64
	name, locale, attr string
}

// Send renders the template for in.Email and queues the mail. It returns the
// mail_queue id once the mail is durable. Every refusal is a 422 naming the
// request's field: "template" (missing or unknown), "email", "locale",
// "data", "data.name".
func (s *Service) Send(ctx context.Context, in SendInput) (int64, error) {
	if in.Template == "" {
		return 0, errs.Invalidf("template", "template is required")
	}
	email, err := subscribers.ValidateEmail(in.Email)
	if err != nil {
		return 0, err
	}
	want := ""
	if in.Locale != "" {
		if want, err = subscribers.ValidateLocale(in.Locale); err != nil {
			return 0, err
		}
	}
	data, err := parseData(in.Data)
	if err != nil {
		return 0, err
	}
	t, err := s.Get(ctx, in.Template)
	if errs.Is(err, errs.NotFound) {
		return 0, errs.Invalidf("template", "no transactional template %q", truncate(in.Template, 64))
	}
	if err != nil {
		return 0, err
	}

	rc, err := s.recipient(ctx, email)
	if err != nil {
		return 0, err
	}
	d := &templates.Data{Email: email, Name: rc.name}
	if rc.attr != "" && rc.attr != "{}" {
		if err := json.Unmarshal([]byte(rc.attr), &d.Attributes); err != nil {
			return 0, fmt.Errorf("txmail: attributes of subscriber %d: %w", rc.id, err)
		}
		normalize(d.Attributes)
	}
	if len(data) > 0 {
		d.Data = data
		// The data also reads as attributes ({{ .Attr "order_id" }}), as
		// templates written before {{ .Data.order_id }} expect.
		if d.Attributes == nil {
			d.Attributes = make(map[string]any, len(data))
		}
		for k, v := range data {
			d.Attributes[k] = v
		}
		if n, ok := data["name"].(string); ok {
			n, err := cleanName(n)
			if err != nil {
				ee, _ := errs.As(err)
				return 0, errs.Invalidf("data.name", "data.%s", ee.Msg)
			}
			if n != "" {
				d.Name = n
			}
		}
	}
	d.Locale = pickLocale(t.Locales, want, rc.locale)
	c, err := s.compiled(d.Locale, t.Locales[d.Locale])
	if err != nil {
		// Saved texts compiled at Put; only a changed layout or footer gets here.
		return 0, fmt.Errorf("txmail: compile %s.%s: %w", t.Slug, d.Locale, err)
	}
	r, err := c.Render(d)
	if err != nil {
		return 0, errs.Invalidf("data", "template %s cannot be rendered with this data: %v", t.Slug, err)
	}
	m := &mailer.Message{
		From:     s.cfg.From,
		FromName: s.cfg.FromName,
		ReplyTo:  s.cfg.ReplyTo,
		To:       email,
		ToName:   d.Name,
		Subject:  r.Subject,
		Text:     r.Text,
		HTML:     r.HTML,
		// No ListID and no UnsubscribeURL: transactional mail is not sent
		// on marketing consent, so it offers no way to withdraw it.
		Headers: map[string]string{"X-Treu-Template": t.Slug},
		Kind:    Kind,
	}
	if err := m.Validate(); err != nil {
		if ee, ok := errs.As(err); ok && ee.Field == "subject" {
			return 0, errs.Invalidf("data", "the subject of template %s renders unusable with this data: %s", t.Slug, ee.Msg)
		}
		return 0, err
	}

	var id int64
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		if rc.id > 0 {
			// Linked to the subscriber, so erasing them deletes it while queued.
			// They may have been erased since they were read: then no link.
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM subscribers WHERE id = ?`, rc.id).Scan(&one)
			switch {
			case err == nil:
				m.SubscriberID = rc.id
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		id, err = s.q.Enqueue(ctx, tx, m)
		return err
	})
	if err != nil {
		if _, ok := errs.As(err); ok {
			return 0, err
		}
		return 0, fmt.Errorf("txmail: send %s: %w", t.Slug, err)
	}
	if w, ok := s.q.(interface{ Wake() }); ok {
		w.Wake()
	}
	s.log.Debug("transactional mail queued", slog.Int64("mail_id", id), slog.String("template", t.Slug),
		slog.Int64("subscriber_id", m.SubscriberID))
	return id, nil
}

// recipient reads the subscriber with this address, if there is one. An
// address that bounced permanently is refused (subscribers.Recipient's
// Undeliverable): the shop learns it now instead of hurting its reputation.
func (s *Service) recipient(ctx context.Context, email string) (recipient, error) {
	sub, found, err := subscribers.Lookup(ctx, s.db, "email", email, nil)
	if err != nil {
		return recipient{}, err
	}
	if sub.Undeliverable() {
		return recipient{}, errs.Invalidf("email", "%s bounced permanently; no mail is sent to it", email)
	}
	if !found {
		return recipient{}, nil
	}
	return recipient{id: sub.ID, name: sub.Name, locale: sub.Locale, attr: sub.Attributes}, nil
}

// pickLocale is the first of the request's locale, the subscriber's, en, de
// that the template has a text for.
func pickLocale(have map[string]Text, want ...string) string {
	for _, l := range append(want, Locales...) {
		if _, ok := have[l]; ok && l != "" {
			return l
		}
	}
	return "" // Put saves no template without a locale
}

// parseData decodes the request's data: a JSON object of at most MaxData
// bytes, or nothing.
func parseData(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if len(raw) > MaxData {
		return nil, errs.Invalidf("data", "data is larger than %d bytes", MaxData)
	}
	if raw[0] != '{' {
		return nil, errs.Invalidf("data", "data must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, errs.Invalidf("data", "data must be a JSON object")
	}
	normalize(m)
	return m, nil
}

// normalize turns JSON numbers into int64 where they are whole and fit, else
// float64: templates print an int64 as written and do arithmetic ({{ .Money }})
// on both, while float64 alone would print an order number 12345678 as
// 1.2345678e+07.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = normalize(x)
		}
	case []any:
		for i, x := range v {
			v[i] = normalize(x)
		}
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	case float64:
		if v == float64(int64(v)) && v >= -1<<53 && v <= 1<<53 {
			return int64(v)
		}
	}
	return v
}

func validSlug(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || (c == '-' || c == '_') && i > 0) {
			return false
		}
	}
	return true
}

// cleanName trims a name and refuses control characters (it may end up in a
// To header) and overlong names.
func cleanName(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errs.Invalidf("name", "name is not valid UTF-8")
	}
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxName {
		return "", errs.Invalidf("name", "name is longer than %d characters", maxName)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }) {
		return "", errs.Invalidf("name", "name must not contain line breaks or control characters")
	}
	return s, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func unixTime(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
