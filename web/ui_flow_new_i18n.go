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
}

func init() {
	for k, v := range flowNewGerman {
		if _, ok := uiGerman[k]; !ok {
			uiGerman[k] = v
		}
	}
}
