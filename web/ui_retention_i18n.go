package web

// The retention page's and the stage timeline's strings, kept beside the
// feature and merged into uiGerman at start.

// stageLabels are the ladder stages (retention.Stages) as a marketer reads them.
var stageLabels = map[string]string{
	"prospect":         "Prospect",
	"first_time_buyer": "First-time buyer",
	"repeat_buyer":     "Repeat buyer",
	"regular":          "Regular",
	"promoter":         "Promoter",
	"lapsing":          "Lapsing",
	"lost":             "Lost",
}

func stageLabel(s string) string {
	if l, ok := stageLabels[s]; ok {
		return l
	}
	return s
}

var retentionGerman = map[string]string{
	"Prospect":         "Interessent",
	"First-time buyer": "Erstkäufer",
	"Repeat buyer":     "Wiederkäufer",
	"Regular":          "Stammkunde",
	"Promoter":         "Empfehler",
	"Lapsing":          "Abwandernd",
	"Lost":             "Verloren",

	"Customer stage": "Kundenstufe",
	"Stage timeline": "Verlauf der Kundenstufe",
	"No orders yet: a prospect since enrolling.": "Noch keine Bestellung: Interessent seit der Anmeldung.",
}

func init() {
	for k, v := range retentionGerman {
		uiGerman[k] = v
	}
}
