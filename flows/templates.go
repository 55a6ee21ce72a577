package flows

// Ready-made flows (issue #10): a shop picks one, it is created switched off
// with the template's slug (or one of its own), and the marketer edits the
// texts before switching it on. Each is a plain Flow: nothing about them is
// special once created.

import (
	"context"
	"time"

	"github.com/treu-mail/treu/internal/errs"
)

// Template is a ready-made flow (GET /api/flows/templates).
type Template struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Flow        Flow   `json:"flow"`
}

const day = 24 * time.Hour

// npsScale is the eleven one-click answers of an NPS mail, 0 to 10.
const npsScale = "[0]({{ .SurveyURL }}/0) · [1]({{ .SurveyURL }}/1) · [2]({{ .SurveyURL }}/2) · " +
	"[3]({{ .SurveyURL }}/3) · [4]({{ .SurveyURL }}/4) · [5]({{ .SurveyURL }}/5) · " +
	"[6]({{ .SurveyURL }}/6) · [7]({{ .SurveyURL }}/7) · [8]({{ .SurveyURL }}/8) · " +
	"[9]({{ .SurveyURL }}/9) · [10]({{ .SurveyURL }}/10)"

// Templates returns the ready-made flows, each a fresh copy.
func Templates() []Template {
	return []Template{
		{
			Key:         "nps",
			Name:        "Post-purchase survey (NPS)",
			Description: "Seven days after an order, asks how likely the customer is to recommend the shop, with eleven one-click answers from 0 to 10.",
			Flow: Flow{Slug: "nps", Name: "Post-purchase survey (NPS)", Trigger: Trigger{Event: "order.placed"},
				Steps: []Step{{
					Delay:    Duration(7 * day),
					Subject:  "How did we do?",
					Markdown: "Hello {{ .FirstName }},\n\nthank you for your order. How likely is it that you would recommend us to a friend or colleague? One click is enough:\n\n" + npsScale + "\n\n0 means not at all likely, 10 extremely likely. Thank you for your time!",
					Locales: map[string]Text{
						"de": {Subject: "Wie zufrieden sind Sie mit uns?",
							Markdown: "Hallo {{ .FirstName }},\n\nvielen Dank für Ihre Bestellung. Wie wahrscheinlich ist es, dass Sie uns einer Freundin, einem Freund oder einer Kollegin weiterempfehlen? Ein Klick genügt:\n\n" + npsScale + "\n\n0 heißt „sehr unwahrscheinlich“, 10 „sehr wahrscheinlich“. Vielen Dank für Ihre Zeit!"},
						"en": {Subject: "How did we do?",
							Markdown: "Hello {{ .FirstName }},\n\nthank you for your order. How likely is it that you would recommend us to a friend or colleague? One click is enough:\n\n" + npsScale + "\n\n0 means not at all likely, 10 extremely likely. Thank you for your time!"},
					},
				}}},
		},
		{
			Key:         "birthday",
			Name:        "Birthday greeting",
			Description: "Once a year on the day in the subscriber's birthday attribute (\"MM-DD\" or \"YYYY-MM-DD\"), a birthday mail. Add a coupon pool to the step to send a gift code.",
			Flow: Flow{Slug: "birthday", Name: "Birthday greeting", Trigger: Trigger{DateAttribute: "birthday"},
				Steps: []Step{{
					Subject:  "Happy birthday, {{ .FirstName }}!",
					Markdown: "Hello {{ .FirstName }},\n\nall of us wish you a happy birthday and a wonderful new year of life!",
					Locales: map[string]Text{
						"de": {Subject: "Alles Gute zum Geburtstag, {{ .FirstName }}!",
							Markdown: "Hallo {{ .FirstName }},\n\nwir wünschen Ihnen alles Gute zum Geburtstag und ein wunderbares neues Lebensjahr!"},
						"en": {Subject: "Happy birthday, {{ .FirstName }}!",
							Markdown: "Hello {{ .FirstName }},\n\nall of us wish you a happy birthday and a wonderful new year of life!"},
					},
				}}},
		},
		{
			Key:         "win-back",
			Name:        "Win-back",
			Description: "When a customer becomes lapsing, a mail inviting them back. At most once in 180 days per person; an order ends it.",
			Flow: Flow{Slug: "win-back", Name: "Win-back", Trigger: Trigger{Stage: "lapsing"},
				Exit: Exit{Order: true}, Cooldown: Duration(180 * day),
				Steps: []Step{{
					Subject:  "We miss you, {{ .FirstName }}",
					Markdown: "Hello {{ .FirstName }},\n\nit has been a while since your last order. A lot has happened in our shop since then – we would be glad to welcome you back.",
					Locales: map[string]Text{
						"de": {Subject: "Wir vermissen Sie, {{ .FirstName }}",
							Markdown: "Hallo {{ .FirstName }},\n\nIhre letzte Bestellung ist schon eine Weile her. In unserem Shop hat sich seitdem einiges getan – wir würden uns freuen, Sie wieder begrüßen zu dürfen."},
						"en": {Subject: "We miss you, {{ .FirstName }}",
							Markdown: "Hello {{ .FirstName }},\n\nit has been a while since your last order. A lot has happened in our shop since then – we would be glad to welcome you back."},
					},
				}}},
		},
		{
			Key:         "promoter-referral",
			Name:        "Recommend a friend (promoters)",
			Description: "When a customer becomes a promoter (NPS 9 or 10 and repeat orders), a thank-you with their recommend-a-friend link.",
			Flow: Flow{Slug: "promoter-referral", Name: "Recommend a friend (promoters)", Trigger: Trigger{Stage: "promoter"},
				OncePerPerson: true,
				Steps: []Step{{
					Subject:  "Thank you for recommending us",
					Markdown: "Hello {{ .FirstName }},\n\nthank you for your great rating! If you like to tell friends about us, here is your personal link:\n\n[Recommend us]({{ .ReferralURL }})",
					Locales: map[string]Text{
						"de": {Subject: "Danke, dass Sie uns weiterempfehlen",
							Markdown: "Hallo {{ .FirstName }},\n\nvielen Dank für Ihre tolle Bewertung! Wenn Sie uns Freunden empfehlen möchten, finden Sie hier Ihren persönlichen Link:\n\n[Jetzt weiterempfehlen]({{ .ReferralURL }})"},
						"en": {Subject: "Thank you for recommending us",
							Markdown: "Hello {{ .FirstName }},\n\nthank you for your great rating! If you like to tell friends about us, here is your personal link:\n\n[Recommend us]({{ .ReferralURL }})"},
					},
				}}},
		},
	}
}

// TemplateByKey returns one ready-made flow; an unknown key is a 404.
func TemplateByKey(key string) (Template, error) {
	for _, t := range Templates() {
		if t.Key == key {
			return t, nil
		}
	}
	return Template{}, errs.NotFoundf("flow template %q", key)
}

// CreateFromTemplate creates the template's flow switched off, under slug
// (the template's own when empty); a slug in use is a 409.
func (e *Engine) CreateFromTemplate(ctx context.Context, key, slug string) (Flow, error) {
	t, err := TemplateByKey(key)
	if err != nil {
		return Flow{}, err
	}
	f := t.Flow
	f.Enabled = false
	if slug != "" {
		f.Slug = slug
	}
	return e.Create(ctx, f)
}
