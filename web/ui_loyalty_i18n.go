package web

// The subscriber page's strings of the legal basis and the bonus programme
// (package loyalty), kept beside the feature and merged into uiGerman at start.

var loyaltyGerman = map[string]string{
	"Legal basis":                 "Rechtsgrundlage",
	"consent":                     "Einwilligung",
	"existing_customer":           "Bestandskunde (§ 7 Abs. 3 UWG)",
	"Points":                      "Bonuspunkte",
	"Referral link":               "Empfehlungslink",
	"Recommended by":              "Empfohlen von",
	"Recommended friends":         "Empfohlene Freunde",
	"No friends recommended yet.": "Noch keine Freunde empfohlen.",
	"credited":                    "gutgeschrieben",
	"waiting for the first order": "wartet auf die erste Bestellung",
	"Rewards":                     "Prämien",
}

// init adds the strings; one the main table has already keeps its German
// there, so this file cannot change another page's wording.
func init() {
	for k, v := range loyaltyGerman {
		if _, ok := uiGerman[k]; !ok {
			uiGerman[k] = v
		}
	}
}
