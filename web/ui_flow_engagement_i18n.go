package web

// The flow page's per-step engagement table (views/ui/partials.html,
// "flowengagement"), merged into uiGerman at start.
var flowEngagementGerman = map[string]string{
	"What recipients did": "Was die Empfänger taten",
	"All steps":           "Alle Schritte",
	"clicks":              "Klicks",
	"Rates are shares of the mails sent. Opened and clicked count people who allow tracking; clicks by link scanners and opens by mail proxies are left out.": "Die Quoten sind Anteile der gesendeten Mails. Geöffnet und geklickt zählen Personen, die Tracking erlauben; Klicks von Link-Scannern und Öffnungen durch Mail-Proxys sind nicht mitgezählt.",
}

func init() {
	for k, v := range flowEngagementGerman {
		if _, ok := uiGerman[k]; !ok {
			uiGerman[k] = v
		}
	}
}
