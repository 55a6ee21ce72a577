package templates

import (
	"strings"
)

// Data is what one recipient's mail can use: the fields listed in API.md under
// "In a mail's Markdown". The send engine fills one per recipient.
type Data struct {
	Email, Name, Locale string
	Attributes          map[string]any
	UnsubscribeURL      string
	PreferencesURL      string
	Coupon              string // the code assigned in a flow step with a coupon pool
	Cart                *Cart  // the abandoned cart in cart-abandonment steps; nil elsewhere

	// ExistingCustomer: the recipient is mailed as an existing customer
	// (UWG § 7 (3)), so the footer says why and that they may object at any
	// time, at no cost beyond base rates, with the unsubscribe link.
	ExistingCustomer bool

	// Points is the recipient's bonus points balance (package loyalty; 0
	// when points are off), RewardCode the latest coupon code their points
	// bought, ReferralURL their recommend-a-friend link.
	Points      int64
	RewardCode  string
	ReferralURL string

	// SurveyURL is the base of the recipient's signed NPS links in a flow
	// mail (package retention): {{ .SurveyURL }}/0 … {{ .SurveyURL }}/10 are
	// the eleven one-click answers; empty where no survey is wired.
	SurveyURL string

	// ConfirmURL is set only for the double opt-in mail (see SystemMail).
	ConfirmURL string

	// Data is what a transactional mail's request carried, so a template
	// reads {{ .Data.order_id }}; nil elsewhere.
	Data map[string]any

	// Event is the event that started a flow run (the shop event as posted
	// to /api/events, a stage change), so a flow mail reads
	// {{ .Event.order.id }} or {{ .Event.data.tracking_url }}; nil elsewhere.
	// A field the event lacks prints nothing.
	Event map[string]any
}

// recipientData is Data under another name, so that the view can embed it
// without its field name "Data" hiding Data.Data.
type recipientData = Data

// Cart is a shop cart as reported by the cart.updated event.
type Cart struct {
	ID, URL, Currency string
	Total             float64
	Items             []Item
}

// Item is one line of a Cart.
type Item struct {
	SKU, Name     string
	Price         float64
	Quantity      int
	URL, ImageURL string
}

// FirstName is the first word of Name, so "Hallo {{ .FirstName }}" reads
// naturally when the shop only reports a full name.
func (d *Data) FirstName() string {
	name := strings.TrimSpace(d.Name)
	if i := strings.IndexAny(name, " \t\r\n"); i >= 0 {
		return name[:i]
	}
	return name
}

// Attr returns the attribute key, or "" when it is missing or null, so that a
// mail never shows Go's "<no value>".
func (d *Data) Attr(key string) any {
	if v, ok := d.Attributes[key]; ok && v != nil {
		return v
	}
	return ""
}

// view is the dot of every compiled template. It embeds the recipient's Data
// so that {{ .Name }} and {{ .Attr "city" }} work, and adds what the layout
// needs. Its Cart shadows Data.Cart and is never nil, so that
// {{ range .Cart.Items }} renders nothing instead of failing for a recipient
// without a cart.
type view struct {
	*recipientData
	Cart      *Cart
	Subject   string   // the recipient's rendered subject, for the layout's <title>
	Preheader string   // the recipient's rendered preheader
	Shop      *Shop    // the sender, from Source.Footer
	L         *Strings // the footer strings in the recipient's language
}

// Money formats amount in the cart's currency (EUR when unknown) the way the
// recipient's language writes it: "1.234,50 €" in German, "€1,234.50" in English.
func (v *view) Money(amount any) string {
	f, ok := toFloat(amount)
	if !ok {
		return ""
	}
	currency := ""
	if v.Cart != nil {
		currency = v.Cart.Currency
	}
	return formatMoney(v.L.Lang, currency, f)
}

// Shop is what the layout knows about the sender.
type Shop struct {
	Name      string
	LogoURL   string
	Impressum []string // the Impressum's lines, so the layout can join them with <br>
}

// Strings are the footer texts of one language.
type Strings struct {
	Lang        string // "de" or "en", for <html lang>
	Reason      string // why the recipient gets this mail, naming the shop
	Customer    string // Reason for an existing customer, with the objection notice
	Preferences string
	Unsubscribe string
}

func footerStrings(lang, shop string) *Strings {
	if lang == "de" {
		return &Strings{
			Lang:   "de",
			Reason: "Sie erhalten diese E-Mail, weil Sie sich bei " + shop + " angemeldet haben.",
			Customer: "Sie erhalten diese E-Mail als Kundin oder Kunde von " + shop + ", weil Sie dort eingekauft haben. " +
				"Sie können der Verwendung Ihrer E-Mail-Adresse für Werbung jederzeit widersprechen, ohne dass hierfür " +
				"andere als die Übermittlungskosten nach den Basistarifen entstehen: Ein Klick auf „Abmelden“ genügt.",
			Preferences: "Einstellungen ändern",
			Unsubscribe: "Abmelden",
		}
	}
	return &Strings{
		Lang:   "en",
		Reason: "You receive this mail because you subscribed at " + shop + ".",
		Customer: "You receive this mail as a customer of " + shop + ", because you bought there. " +
			"You may object to the use of your address for advertising at any time, at no cost other than " +
			"the transmission costs at base rates: one click on “Unsubscribe” is enough.",
		Preferences: "Manage preferences",
		Unsubscribe: "Unsubscribe",
	}
}

// lang maps a subscriber locale such as "de", "de-AT" or "en_GB" to one of the
// languages Treu speaks, or "" when it speaks neither.
func lang(locale string) string {
	l := strings.ToLower(locale)
	switch {
	case l == "de" || strings.HasPrefix(l, "de-") || strings.HasPrefix(l, "de_"):
		return "de"
	case l == "en" || strings.HasPrefix(l, "en-") || strings.HasPrefix(l, "en_"):
		return "en"
	}
	return ""
}

// samples are the recipients a template is trial-executed against at compile
// time: one with every field set and one with none, so that unknown fields
// in both branches of a typical {{ if .Coupon }} are found before sending.
func samples() []*Data {
	return []*Data{
		{
			Email:          "kim@example.com",
			Name:           "Kim Muster",
			Locale:         "de",
			Attributes:     map[string]any{"city": "Berlin", "vip": true, "points": 120},
			Data:           map[string]any{"order_id": "1001", "items": []any{map[string]any{"name": "Tee"}}},
			Event:          map[string]any{"type": "order.placed", "order": map[string]any{"id": "1001", "total": 59.8}},
			UnsubscribeURL: "https://shop.example/unsubscribe/t",
			PreferencesURL: "https://shop.example/preferences/t",
			ConfirmURL:     "https://shop.example/confirm/t",
			Coupon:         "WELCOME10",
			Points:         120,
			RewardCode:     "TREUE-50",
			ReferralURL:    "https://shop.example/r/t",
			SurveyURL:      "https://shop.example/nps/t",
			Cart: &Cart{
				ID: "c1", URL: "https://shop.example/cart/c1", Currency: "EUR", Total: 59.8,
				Items: []Item{{SKU: "s1", Name: "Tee", Price: 29.9, Quantity: 2,
					URL: "https://shop.example/p/s1", ImageURL: "https://shop.example/i/s1.jpg"}},
			},
		},
		{Locale: "en"},
	}
}
