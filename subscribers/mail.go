package subscribers

import (
	"context"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
)

// Message is the mailer's message; Queue takes it.
type Message = mailer.Message

// Rendered is a mail ready for the queue.
type Rendered struct {
	Subject, Text, HTML string
}

// MailVars is what the confirm and welcome mails may show.
type MailVars struct {
	ShopName       string
	Name, Email    string
	ConfirmURL     string // confirm only
	UnsubscribeURL string // welcome only
	PreferencesURL string // welcome only
	PendingDays    int    // how long the confirmation link works
	Footer         Footer
}

// SystemMailFunc renders a system mail: kind is "confirm" or "welcome",
// locale "de" or "en". The confirm mail must show v.ConfirmURL verbatim in
// its text (and HTML) part: it is rendered once per locale with a placeholder
// that enrollment replaces, so it must not depend on the recipient otherwise.
type SystemMailFunc func(kind, locale string, v MailVars) (Rendered, error)

// linkPlaceholder stands for the confirmation link in the pre-rendered mail.
// Letters only, so neither HTML nor Markdown escaping changes it.
const linkPlaceholder = "TREUCONFIRMLINKPLACEHOLDER"

// mailVars are the recipient-independent variables.
func (s *Service) mailVars(locale, confirmURL string) MailVars {
	return MailVars{
		ShopName:    s.cfg.ShopName,
		ConfirmURL:  confirmURL,
		PendingDays: int(s.cfg.PendingTTL.Hours()+23) / 24,
		Footer:      s.cfg.Footer,
	}
}

// queueConfirm queues the double opt-in mail for sub in tx. It carries the
// link and the Impressum, and no advertising (UWG §7, BGH I ZR 164/09).
func (s *Service) queueConfirm(ctx context.Context, tx *store.Tx, id int64, email, name, locale string) error {
	r, ok := s.confirmMail[locale]
	if !ok {
		r = s.confirmMail["en"]
	}
	link := s.cfg.BaseURL + "/confirm/" + s.confirmToken(id, tx.Now)
	m := &Message{
		From:         s.cfg.From,
		FromName:     s.cfg.FromName,
		ReplyTo:      s.cfg.ReplyTo,
		To:           email,
		ToName:       name,
		Subject:      r.Subject,
		Text:         strings.ReplaceAll(r.Text, linkPlaceholder, link),
		HTML:         strings.ReplaceAll(r.HTML, linkPlaceholder, htmltemplate.HTMLEscapeString(link)),
		Kind:         "confirm",
		SubscriberID: id,
	}
	if _, err := s.q.Enqueue(ctx, tx, m); err != nil {
		return fmt.Errorf("subscribers: queue confirmation for %d: %w", id, err)
	}
	return nil
}

// queueWelcome is the default OnActivated: one simple welcome mail, a
// marketing mail with List-Id and one-click unsubscribe.
func (s *Service) queueWelcome(ctx context.Context, tx *store.Tx, sub Subscriber) error {
	list := "newsletter"
	for _, m := range sub.Lists {
		if m.Status == StatusActive {
			list = m.Slug
			break
		}
	}
	unsub, prefs := s.ManageURLs(sub.ID)
	v := s.mailVars(sub.Locale, "")
	v.Name, v.Email, v.UnsubscribeURL, v.PreferencesURL = sub.Name, sub.Email, unsub, prefs
	r, err := s.cfg.SystemMail("welcome", sub.Locale, v)
	if err != nil {
		return fmt.Errorf("subscribers: render welcome for %d: %w", sub.ID, err)
	}
	m := &Message{
		From:           s.cfg.From,
		FromName:       s.cfg.FromName,
		ReplyTo:        s.cfg.ReplyTo,
		To:             sub.Email,
		ToName:         sub.Name,
		Subject:        r.Subject,
		Text:           r.Text,
		HTML:           r.HTML,
		ListID:         list + "." + s.cfg.ListIDDomain,
		UnsubscribeURL: unsub,
		Kind:           "welcome",
		SubscriberID:   sub.ID,
	}
	if _, err := s.q.Enqueue(ctx, tx, m); err != nil {
		return fmt.Errorf("subscribers: queue welcome for %d: %w", sub.ID, err)
	}
	return nil
}

// The built-in texts, until the templates package renders system mails
// with the shop's layout. Plain and short on purpose.
var builtinText = texttemplate.Must(texttemplate.New("").Parse(`
{{define "confirm.de.subject"}}Bitte bestätigen Sie Ihre Anmeldung bei {{.ShopName}}{{end}}
{{define "confirm.de"}}Guten Tag,

bitte bestätigen Sie Ihre Anmeldung zum Newsletter von {{.ShopName}} mit einem Klick auf diesen Link:

{{.ConfirmURL}}

Der Link ist {{.PendingDays}} Tage gültig. Wenn Sie sich nicht angemeldet haben, ignorieren Sie diese E-Mail bitte: Ohne Bestätigung erhalten Sie keine weiteren E-Mails, und Ihre Adresse wird gelöscht.
{{template "footer" .}}{{end}}
{{define "confirm.en.subject"}}Please confirm your subscription to {{.ShopName}}{{end}}
{{define "confirm.en"}}Hello,

please confirm your subscription to the newsletter of {{.ShopName}} by opening this link:

{{.ConfirmURL}}

The link works for {{.PendingDays}} days. If you did not sign up, please ignore this mail: without confirmation you will get no further mail and your address will be deleted.
{{template "footer" .}}{{end}}
{{define "welcome.de.subject"}}Willkommen bei {{.ShopName}}{{end}}
{{define "welcome.de"}}{{if .Name}}Hallo {{.Name}},{{else}}Guten Tag,{{end}}

vielen Dank für Ihre Anmeldung! Ab jetzt erhalten Sie unseren Newsletter.

Einstellungen ändern: {{.PreferencesURL}}
Abmelden: {{.UnsubscribeURL}}
{{template "footer" .}}{{end}}
{{define "welcome.en.subject"}}Welcome to {{.ShopName}}{{end}}
{{define "welcome.en"}}{{if .Name}}Hello {{.Name}},{{else}}Hello,{{end}}

thank you for subscribing! From now on you will receive our newsletter.

Manage preferences: {{.PreferencesURL}}
Unsubscribe: {{.UnsubscribeURL}}
{{template "footer" .}}{{end}}
{{define "footer"}}
-- 
{{.Footer.ShopName}}
{{.Footer.Impressum}}
{{end}}`))

var builtinHTML = htmltemplate.Must(htmltemplate.New("").Parse(`
{{define "head"}}<!DOCTYPE html><html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"></head><body style="font-family:sans-serif;line-height:1.5;max-width:36em;margin:0 auto;padding:1em">{{end}}
{{define "foot"}}<hr style="border:0;border-top:1px solid #ccc;margin-top:2em"><p style="font-size:small;color:#555">{{.V.Footer.ShopName}}<br>{{range .Impressum}}{{.}}<br>{{end}}</p></body></html>{{end}}
{{define "confirm.de"}}{{template "head" .}}<p>Guten Tag,</p><p>bitte bestätigen Sie Ihre Anmeldung zum Newsletter von {{.V.ShopName}}:</p><p><a href="{{.V.ConfirmURL}}" style="display:inline-block;padding:.6em 1.2em;background:#1a5fb4;color:#fff;text-decoration:none;border-radius:4px">Anmeldung bestätigen</a></p><p>Oder öffnen Sie diesen Link: <br>{{.V.ConfirmURL}}</p><p>Der Link ist {{.V.PendingDays}} Tage gültig. Wenn Sie sich nicht angemeldet haben, ignorieren Sie diese E-Mail bitte: Ohne Bestätigung erhalten Sie keine weiteren E-Mails, und Ihre Adresse wird gelöscht.</p>{{template "foot" .}}{{end}}
{{define "confirm.en"}}{{template "head" .}}<p>Hello,</p><p>please confirm your subscription to the newsletter of {{.V.ShopName}}:</p><p><a href="{{.V.ConfirmURL}}" style="display:inline-block;padding:.6em 1.2em;background:#1a5fb4;color:#fff;text-decoration:none;border-radius:4px">Confirm subscription</a></p><p>Or open this link: <br>{{.V.ConfirmURL}}</p><p>The link works for {{.V.PendingDays}} days. If you did not sign up, please ignore this mail: without confirmation you will get no further mail and your address will be deleted.</p>{{template "foot" .}}{{end}}
{{define "welcome.de"}}{{template "head" .}}<p>{{if .V.Name}}Hallo {{.V.Name}},{{else}}Guten Tag,{{end}}</p><p>vielen Dank für Ihre Anmeldung! Ab jetzt erhalten Sie unseren Newsletter.</p><p><a href="{{.V.PreferencesURL}}">Einstellungen ändern</a> · <a href="{{.V.UnsubscribeURL}}">Abmelden</a></p>{{template "foot" .}}{{end}}
{{define "welcome.en"}}{{template "head" .}}<p>{{if .V.Name}}Hello {{.V.Name}},{{else}}Hello,{{end}}</p><p>thank you for subscribing! From now on you will receive our newsletter.</p><p><a href="{{.V.PreferencesURL}}">Manage preferences</a> · <a href="{{.V.UnsubscribeURL}}">Unsubscribe</a></p>{{template "foot" .}}{{end}}
`))

func builtinSystemMail(kind, locale string, v MailVars) (Rendered, error) {
	if locale != "de" {
		locale = "en"
	}
	if kind != "confirm" && kind != "welcome" {
		return Rendered{}, fmt.Errorf("subscribers: no system mail %q", kind)
	}
	name := kind + "." + locale
	var subj, text, html strings.Builder
	if err := builtinText.ExecuteTemplate(&subj, name+".subject", v); err != nil {
		return Rendered{}, err
	}
	if err := builtinText.ExecuteTemplate(&text, name, v); err != nil {
		return Rendered{}, err
	}
	hv := struct {
		Lang      string
		V         MailVars
		Impressum []string
	}{locale, v, strings.Split(v.Footer.Impressum, "\n")}
	if err := builtinHTML.ExecuteTemplate(&html, name, hv); err != nil {
		return Rendered{}, err
	}
	return Rendered{Subject: subj.String(), Text: strings.TrimLeft(text.String(), "\n"), HTML: html.String()}, nil
}

// wakeQueue tells the mailer's workers, after a commit, that mail is waiting
// (*mailer.Queue has Wake; a queue without it polls).
func (s *Service) wakeQueue() {
	if w, ok := s.q.(interface{ Wake() }); ok {
		w.Wake()
	}
}
