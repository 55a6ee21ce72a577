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
	"Call back": "Zurückrufen",
	"The latest answers from 0 to 6 to the satisfaction survey: customers worth a call or a personal mail.": "Die neuesten Antworten von 0 bis 6 auf die Zufriedenheitsumfrage: Kunden, die einen Anruf oder eine persönliche Mail verdienen.",
	"Score":                       "Wert",
	"Comment":                     "Kommentar",
	"Answered":                    "Beantwortet",
	"No answers from 0 to 6 yet.": "Noch keine Antworten von 0 bis 6.",
	"Prospect":                    "Interessent",
	"First-time buyer":            "Erstkäufer",
	"Repeat buyer":                "Wiederkäufer",
	"Regular":                     "Stammkunde",
	"Promoter":                    "Empfehler",
	"Lapsing":                     "Abwandernd",
	"Lost":                        "Verloren",

	"Retention":                            "Kundenbindung",
	"Show":                                 "Anzeigen",
	"Month":                                "Monat",
	"moved up":                             "aufgestiegen",
	"moved off":                            "abgestiegen",
	"Cohorts":                              "Kohorten",
	"The ladder":                           "Die Kundenstufen",
	"Moves per month":                      "Wechsel pro Monat",
	"Subscribers per stage":                "Abonnenten pro Stufe",
	"No moves in this period.":             "Keine Wechsel in diesem Zeitraum.",
	"No first-time buyers in this period.": "Keine Erstkäufer in diesem Zeitraum.",
	"Computed from the shop's orders at":   "Berechnet aus den Bestellungen des Shops am",
	"A customer is a subscriber with at least one order.": "Kunde ist, wer abonniert und mindestens einmal bestellt hat.",
	"Customers":                  "Kunden",
	"Repurchase rate":            "Wiederkaufrate",
	"Churn rate":                 "Abwanderungsrate",
	"Average order value":        "Durchschnittlicher Bestellwert",
	"Orders per customer":        "Bestellungen pro Kunde",
	"Customer lifetime value":    "Kundenwert (bisher)",
	"Predicted lifetime value":   "Kundenwert (erwartet)",
	"Net Promoter Score":         "Net Promoter Score",
	"Revenue from campaigns":     "Umsatz durch Kampagnen",
	"Revenue from flows":         "Umsatz durch Abläufe",
	"Share of revenue from mail": "Umsatzanteil durch E-Mails",
	"Orders in the period credited to a campaign: the one the shop named, else the last campaign mail clicked (or opened) within the attribution window.": "Bestellungen im Zeitraum, die einer Kampagne zugerechnet werden: der vom Shop genannten, sonst der zuletzt geklickten (oder geöffneten) Kampagnen-Mail im Zuordnungsfenster.",
	"Orders in the period credited to a flow mail the customer last clicked (or opened) within the attribution window.":                                   "Bestellungen im Zeitraum, die der zuletzt geklickten (oder geöffneten) Mail eines Ablaufs im Zuordnungsfenster zugerechnet werden.",
	"Revenue credited to campaigns and flows, divided by the period's revenue.":                                                                           "Umsatz durch Kampagnen und Abläufe, geteilt durch den Umsatz des Zeitraums.",
	"Subscribers with at least one order in the period.":                                                                                                  "Abonnenten mit mindestens einer Bestellung im Zeitraum.",
	"Customers of the period with 2 or more orders so far, divided by all customers of the period.":                                                       "Kunden des Zeitraums mit bisher 2 oder mehr Bestellungen, geteilt durch alle Kunden des Zeitraums.",
	"Customers who ordered in the equally long period before but not in this one, divided by the customers of that period.":                               "Kunden, die im gleich langen Zeitraum davor bestellt haben, in diesem aber nicht, geteilt durch die Kunden jenes Zeitraums.",
	"Revenue divided by the number of orders in the period.":                                                                                              "Umsatz geteilt durch die Zahl der Bestellungen im Zeitraum.",
	"Orders divided by customers in the period.":                                                                                                          "Bestellungen geteilt durch Kunden im Zeitraum.",
	"What the period's customers spent in all their orders so far, per customer.":                                                                         "Was die Kunden des Zeitraums bisher in all ihren Bestellungen ausgegeben haben, pro Kunde.",
	"Average order value × orders per customer × expected lifetime in periods (1 ÷ churn rate).":                                                          "Durchschnittlicher Bestellwert × Bestellungen pro Kunde × erwartete Dauer in Zeiträumen (1 ÷ Abwanderungsrate).",
	"Share of answers 9–10 minus share of answers 0–6, in points, from %s answers in the period.":                                                         "Anteil der Antworten 9–10 minus Anteil der Antworten 0–6, in Punkten, aus %s Antworten im Zeitraum.",
	"Every subscriber's stage now, from their orders and answers: up from prospect to promoter, or off to lapsing and lost.":                              "Die heutige Stufe jedes Abonnenten aus Bestellungen und Antworten: aufwärts vom Interessenten zum Empfehler, oder abwärts zu abwandernd und verloren.",
	"Stage changes per month: up a rung (or back from lapsing and lost) in green, off to lapsing or lost in red.":                                         "Stufenwechsel pro Monat: eine Stufe höher (oder zurück von abwandernd und verloren) grün, zu abwandernd oder verloren rot.",
	"Of each month's first-time buyers, the share who ordered again in each later month (+1 is the month after).":                                         "Von den Erstkäufern jedes Monats der Anteil, der in jedem späteren Monat wieder bestellt hat (+1 ist der Folgemonat).",

	"Customer stage": "Kundenstufe",
	"Period start":   "Beginn",
	"Period end":     "Ende",
	"From stage":     "Von Stufe",
	"To stage":       "Zu Stufe",
	"Stage timeline": "Verlauf der Kundenstufe",
	"No orders yet: a prospect since enrolling.": "Noch keine Bestellung: Interessent seit der Anmeldung.",
}

func init() { addGerman(retentionGerman) }

// addGerman adds a feature's strings; one the main table has already keeps
// its German there, so a feature's file cannot change another page's wording.
func addGerman(m map[string]string) {
	for k, v := range m {
		if _, ok := uiGerman[k]; !ok {
			uiGerman[k] = v
		}
	}
}
