package flows

import "time"

// DefaultSteps returns the built-in steps of a flow: English in
// Subject/Markdown, German in Locales["de"]. They serve until a marketer
// saves the flow.
func DefaultSteps(slug string) []Step {
	switch slug {
	case Welcome:
		return []Step{
			{
				Delay:   0,
				Subject: "Welcome to {{ .Shop.Name }}",
				Markdown: `# Welcome{{ with .FirstName }}, {{ . }}{{ end }}!

Thank you for joining us. From now on you will be the first to hear about new arrivals and offers for subscribers only.

A small tip: add our address to your contacts so our mails reach your inbox.`,
				Locales: map[string]Text{"de": {
					Subject: "Willkommen bei {{ .Shop.Name }}",
					Markdown: `# Willkommen{{ with .FirstName }}, {{ . }}{{ end }}!

Schön, dass Sie dabei sind. Ab jetzt erfahren Sie als Erste von Neuheiten und von Angeboten, die es nur für Abonnentinnen und Abonnenten gibt.

Ein kleiner Tipp: Nehmen Sie unsere Adresse in Ihr Adressbuch auf, dann landen unsere Mails sicher im Posteingang.`,
				}},
			},
			{
				Delay:   Duration(72 * time.Hour),
				Subject: "What our customers love at {{ .Shop.Name }}",
				Markdown: `# Good to have you{{ with .FirstName }}, {{ . }}{{ end }}

A few days ago you signed up for our newsletter. Here is what to expect:

- news about our products before anyone else,
- offers and coupons only for subscribers,
- no more than we have to say: you decide which mails you get in your preferences.

Questions? Just reply to this mail.`,
				Locales: map[string]Text{"de": {
					Subject: "Das schätzen unsere Kunden an {{ .Shop.Name }}",
					Markdown: `# Schön, dass Sie da sind{{ with .FirstName }}, {{ . }}{{ end }}

Vor ein paar Tagen haben Sie unseren Newsletter abonniert. Das erwartet Sie:

- Neuigkeiten zu unseren Produkten vor allen anderen,
- Angebote und Gutscheine nur für Abonnentinnen und Abonnenten,
- nur so viel Post, wie Sie möchten: In Ihren Einstellungen wählen Sie selbst.

Fragen? Antworten Sie einfach auf diese Mail.`,
				}},
			},
		}
	case CartAbandonment:
		return []Step{
			{
				Delay:   Duration(time.Hour),
				Subject: "Still thinking it over?",
				Markdown: `# Your cart is waiting{{ with .FirstName }}, {{ . }}{{ end }}

You left these items in your cart:

{{ range .Cart.Items }}
- [{{ .Name }}]({{ .URL }}) × {{ .Quantity }}: {{ $.Money .Price }}
{{ end }}

**Total: {{ .Money .Cart.Total }}**

<a class="button" href="{{ .Cart.URL }}">Back to your cart</a>`,
				Locales: map[string]Text{"de": {
					Subject: "Noch unentschlossen?",
					Markdown: `# Ihr Warenkorb wartet{{ with .FirstName }}, {{ . }}{{ end }}

Diese Artikel liegen noch in Ihrem Warenkorb:

{{ range .Cart.Items }}
- [{{ .Name }}]({{ .URL }}) × {{ .Quantity }}: {{ $.Money .Price }}
{{ end }}

**Summe: {{ .Money .Cart.Total }}**

<a class="button" href="{{ .Cart.URL }}">Zurück zum Warenkorb</a>`,
				}},
			},
			{
				Delay:   Duration(23 * time.Hour),
				Subject: "Your cart is still saved",
				Markdown: `# We kept your cart for you

{{ range .Cart.Items }}
- {{ .Name }} × {{ .Quantity }}
{{ end }}

Complete your order whenever it suits you.

<a class="button" href="{{ .Cart.URL }}">Complete your order</a>`,
				Locales: map[string]Text{"de": {
					Subject: "Ihr Warenkorb ist noch gespeichert",
					Markdown: `# Wir haben Ihren Warenkorb aufgehoben

{{ range .Cart.Items }}
- {{ .Name }} × {{ .Quantity }}
{{ end }}

Schließen Sie Ihre Bestellung ab, wann es Ihnen passt.

<a class="button" href="{{ .Cart.URL }}">Bestellung abschließen</a>`,
				}},
			},
		}
	case Offers:
		return []Step{{
			Delay:      0,
			Subject:    "Only for subscribers: your personal coupon",
			CouponPool: "offers",
			Markdown: `# A thank-you for subscribers{{ with .FirstName }}, {{ . }}{{ end }}

This week's offer is only for newsletter subscribers. Your personal coupon code:

**{{ .Coupon }}**

Enter it at checkout. It works once.`,
			Locales: map[string]Text{"de": {
				Subject: "Nur für Abonnenten: Ihr persönlicher Gutschein",
				Markdown: `# Ein Dankeschön für Abonnentinnen und Abonnenten{{ with .FirstName }}, {{ . }}{{ end }}

Das Angebot dieser Woche gibt es nur im Newsletter. Ihr persönlicher Gutscheincode:

**{{ .Coupon }}**

Geben Sie ihn an der Kasse ein. Er gilt einmal.`,
			}},
		}}
	}
	return nil
}
