package web

// The "New flow" page's strings, kept beside the feature and merged into
// uiGerman at start.

var flowNewGerman = map[string]string{
	"New flow": "Neuer Ablauf",
	"Choose what starts the flow and write its first mail. Further steps are added in the flow's editor; the flow starts switched off.": "Wählen Sie, was den Ablauf startet, und schreiben Sie seine erste Mail. Weitere Schritte fügen Sie im Editor des Ablaufs hinzu; der Ablauf beginnt ausgeschaltet.",
	"Short name in addresses":                "Kurzname in Adressen",
	"Lower-case letters, digits and dashes.": "Kleinbuchstaben, Ziffern und Bindestriche.",
	"Starts when":                            "Startet, wenn",
	"A shop event":                           "ein Shop-Ereignis eintrifft",
	"A subscriber confirms":                  "eine Anmeldung bestätigt wird",
	"A customer reaches a stage":             "ein Kunde eine Stufe erreicht",
	"A date in an attribute, once a year":    "ein Datum in einem Attribut, einmal im Jahr",
	"A subscriber enters a segment":          "jemand in ein Segment kommt",
	"Event type":                             "Ereignistyp",
	"Stage":                                  "Stufe",
	"Date attribute":                         "Datumsattribut",
	"The event's fields read as {{ .Event.data.name }}.": "Die Felder des Ereignisses lesen Sie als {{ .Event.data.name }}.",
	"Create flow":                  "Ablauf anlegen",
	"Choose a segment.":            "Wählen Sie ein Segment.",
	"Choose what starts the flow.": "Wählen Sie, was den Ablauf startet.",
	"This flow has steps other than mails; edit it over the API (PUT /api/flows/{slug}).": "Dieser Ablauf hat Schritte, die keine Mails sind; bearbeiten Sie ihn über die API (PUT /api/flows/{slug}).",
	"Ready-made flows": "Fertige Abläufe",
	"Start from a template: it is created switched off, so you can adapt the texts before switching it on.": "Starten Sie mit einer Vorlage: Sie wird ausgeschaltet angelegt, damit Sie die Texte anpassen können, bevor Sie sie einschalten.",
	"Use this template": "Diese Vorlage verwenden",
	"Your own flow":     "Eigener Ablauf",
	"A flow with this template's short name exists already; open it from the flow list.": "Ein Ablauf mit dem Kurznamen dieser Vorlage existiert bereits; öffnen Sie ihn in der Liste der Abläufe.",
	// The templates of flows.Templates.
	"Post-purchase survey (NPS)": "Umfrage nach dem Kauf (NPS)",
	"Seven days after an order, asks how likely the customer is to recommend the shop, with eleven one-click answers from 0 to 10.": "Sieben Tage nach einer Bestellung fragt sie, wie wahrscheinlich der Kunde den Shop weiterempfiehlt, mit elf Antworten von 0 bis 10 per Klick.",
	"Birthday greeting": "Geburtstagsgruß",
	"Once a year on the day in the subscriber's birthday attribute (\"MM-DD\" or \"YYYY-MM-DD\"), a birthday mail. Add a coupon pool to the step to send a gift code.": "Einmal im Jahr am Tag im Attribut birthday (\"MM-TT\" oder \"JJJJ-MM-TT\") eine Geburtstagsmail. Mit einem Gutscheinpool am Schritt verschicken Sie einen Geschenkcode.",
	"Win-back": "Rückgewinnung",
	"When a customer becomes lapsing, a mail inviting them back. At most once in 180 days per person; an order ends it.": "Wenn ein Kunde abzuwandern droht, eine Mail, die ihn zurück einlädt. Höchstens einmal in 180 Tagen pro Person; eine Bestellung beendet den Ablauf.",
	"Recommend a friend (promoters)": "Freunde werben (Promotoren)",
	"When a customer becomes a promoter (NPS 9 or 10 and repeat orders), a thank-you with their recommend-a-friend link.": "Wenn ein Kunde zum Promotor wird (NPS 9 oder 10 und wiederholte Bestellungen), ein Dankeschön mit seinem persönlichen Empfehlungslink.",
}

func init() {
	for k, v := range flowNewGerman {
		if _, ok := uiGerman[k]; !ok {
			uiGerman[k] = v
		}
	}
}
