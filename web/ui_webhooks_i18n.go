package web

// The webhooks page's form strings, merged into uiGerman at start.
var webhooksGerman = map[string]string{
	"The shop's endpoints and their latest deliveries. Endpoints are added here or with POST /api/webhooks.": "Die Endpunkte des Shops und ihre letzten Zustellungen. Endpunkte legen Sie hier oder mit POST /api/webhooks an.",
	"Signing secret":   "Signaturschlüssel",
	"Add a webhook":    "Webhook hinzufügen",
	"URL":              "URL",
	"Add webhook":      "Webhook hinzufügen",
	"Delete webhook":   "Webhook löschen",
	"Webhook deleted.": "Webhook gelöscht.",
	"Delete this webhook? Deliveries not sent yet are dropped.":               "Diesen Webhook löschen? Noch nicht gesendete Zustellungen entfallen.",
	"Webhook added. Copy its signing secret now: it will not be shown again.": "Webhook hinzugefügt. Kopieren Sie den Signaturschlüssel jetzt: Er wird nicht wieder angezeigt.",
}

func init() {
	for k, v := range webhooksGerman {
		if _, ok := uiGerman[k]; !ok {
			uiGerman[k] = v
		}
	}
	uiFlashes["webhook-deleted"] = "Webhook deleted."
}
