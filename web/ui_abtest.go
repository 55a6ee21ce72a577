package web

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/internal/errs"
)

// The composer's A/B test: variant A is the mail written above; slots B-D
// hold the other variants (a slot is used when any of its fields is filled
// in), then the test share in percent, the wait and the metric. The results
// show each variant's figures and the winner, and let a marketer pick the
// winner before the wait is over.

// abSlot is one of the composer's variant slots (B, C or D).
type abSlot struct {
	Index                        int    // the variant's index: 1 for B
	Letter                       string // "B"
	Subject, Preheader, Markdown string
	Used                         bool
}

// abForm is what the composer shows of the test.
type abForm struct {
	Slots  []abSlot
	Share  string // percent
	Wait   string
	Metric campaigns.Metric
}

func variantLetter(i int) string { return string(rune('A' + i)) }

// abMetrics are the choices of the composer's "Winner by".
func abMetrics() []campaigns.Metric {
	return []campaigns.Metric{campaigns.MetricClicks, campaigns.MetricOpens, campaigns.MetricRevenue}
}

// abFormOf fills the composer's slots and settings from in.
func abFormOf(in campaigns.Input) abForm {
	f := abForm{Share: "20", Wait: "4h", Metric: campaigns.MetricClicks}
	for i := 1; i < campaigns.MaxVariants; i++ {
		s := abSlot{Index: i, Letter: variantLetter(i)}
		if i < len(in.Variants) {
			v := in.Variants[i]
			s.Subject, s.Preheader, s.Markdown, s.Used = v.Subject, v.Preheader, v.Markdown, true
		}
		f.Slots = append(f.Slots, s)
	}
	if in.AB != nil {
		if in.AB.TestShare != nil {
			f.Share = strconv.FormatFloat(math.Round(*in.AB.TestShare*1e6)/1e4, 'f', -1, 64) // 0.07 shows as 7, not 7.000000000000001
		}
		if in.AB.Wait != "" {
			f.Wait = in.AB.Wait
		}
		if in.AB.Metric != "" {
			f.Metric = in.AB.Metric
		}
	}
	return f
}

// abInput reads the composer's variant slots and test settings into in. The
// slots must be used in order (B before C), so a variant keeps its letter.
func abInput(form url.Values, in *campaigns.Input) error {
	var vs []campaigns.Variant
	all := []campaigns.Variant{{}} // every slot as typed, to show again on an error
	gap := -1
	var gapErr error
	for i := 1; i < campaigns.MaxVariants; i++ {
		n := strconv.Itoa(i)
		v := campaigns.Variant{Subject: strings.TrimSpace(form.Get("variant_subject_" + n)),
			Preheader: form.Get("variant_preheader_" + n),
			Markdown:  strings.ReplaceAll(form.Get("variant_markdown_"+n), "\r\n", "\n")}
		all = append(all, v)
		if v.Subject == "" && strings.TrimSpace(v.Preheader) == "" && strings.TrimSpace(v.Markdown) == "" {
			if gap < 0 {
				gap = i
			}
			continue
		}
		if gap >= 0 && gapErr == nil {
			gapErr = errs.Invalidf(fmt.Sprintf("variants[%d].subject", gap), "fill in variant %s before variant %s", variantLetter(gap), variantLetter(i))
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return nil
	}
	ab := &campaigns.ABInput{Wait: strings.TrimSpace(form.Get("ab_wait")), Metric: campaigns.Metric(form.Get("ab_metric"))}
	in.AB = ab
	in.Variants = append([]campaigns.Variant{{}}, vs...) // A: the mail above
	if gapErr != nil {
		in.Variants = all
		return gapErr
	}
	if s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(form.Get("ab_share")), "%")); s != "" {
		pct, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
		if err != nil {
			return errs.Invalidf("ab.test_share", "the test share is a percentage between 5 and 50")
		}
		share := pct / 100
		ab.TestShare = &share
	}
	return nil
}

// abView is a started A/B test on the campaign's page.
type abView struct {
	Metric    campaigns.Metric
	Wait      string
	DecideAt  *time.Time
	DecidedAt *time.Time
	DecidedBy string
	Rest      int64
	Decided   bool
	Rows      []abRow
}

type abRow struct {
	Letter, Subject string
	Stats           campaigns.VariantStats
	Winner          bool
}

// abViewOf is nil unless cp is an A/B test that has started.
func abViewOf(cp campaigns.Campaign) *abView {
	if cp.AB == nil || cp.StartedAt == nil {
		return nil
	}
	v := &abView{Metric: cp.AB.Metric, Wait: cp.AB.Wait, DecideAt: cp.AB.DecideAt, DecidedAt: cp.AB.DecidedAt,
		DecidedBy: cp.AB.DecidedBy, Rest: cp.AB.Rest, Decided: cp.Winner != nil}
	for i, va := range cp.Variants {
		r := abRow{Letter: variantLetter(i), Subject: va.Subject, Winner: cp.Winner != nil && *cp.Winner == i}
		if va.Stats != nil {
			r.Stats = *va.Stats
		}
		v.Rows = append(v.Rows, r)
	}
	return v
}

// canPickWinner: the test has started and is not decided.
func canPickWinner(cp campaigns.Campaign) bool {
	return cp.AB != nil && cp.StartedAt != nil && cp.Winner == nil &&
		(cp.Status == campaigns.Running || cp.Status == campaigns.Paused || cp.Status == campaigns.Finished)
}

// pickWinner ends a campaign's A/B test by the marketer's choice.
func (u *ui) pickWinner(c echo.Context) error {
	cp, err := u.campaign(c)
	if err != nil {
		return err
	}
	v, err := strconv.Atoi(c.FormValue("variant"))
	if err == nil {
		_, err = u.campaigns.PickWinner(c.Request().Context(), cp.ID, v)
	} else {
		err = errs.Invalidf("variant", "choose a variant")
	}
	if err != nil {
		if e, ok := errs.As(err); ok && e.Kind != errs.Internal && e.Kind != errs.NotFound {
			return u.renderComposer(c, kindStatus[e.Kind], cp.ID, cp, inputOf(cp), "", e.Msg, "variant")
		}
		return err
	}
	u.srv.record(c, "campaign.winner", idTarget("campaign", cp.ID), variantLetter(v))
	return u.redirectDone(c, "/ui/campaigns/"+strconv.FormatInt(cp.ID, 10), "winner-picked")
}

// German for the A/B test's strings, kept beside them.
var abGerman = map[string]string{
	"A/B test":                   "A/B-Test",
	"Test variants of this mail": "Varianten dieser Mail testen",
	"Optional: up to three more variants of the subject, preheader or text. An empty field takes variant A's, the mail above.": "Optional: bis zu drei weitere Varianten von Betreff, Vorschauzeile oder Text. Ein leeres Feld übernimmt das von Variante A, der Mail oben.",
	"Variant %s":     "Variante %s",
	"Test share (%)": "Testanteil (%)",
	"This share of the audience is split evenly among the variants; the rest gets the winner.": "Dieser Anteil der Empfänger wird gleichmäßig auf die Varianten verteilt; der Rest bekommt die Gewinnerin.",
	"Wait before choosing": "Wartezeit bis zur Wahl",
	"From the start of the send, between 1m and 72h: 4h, 90m.": "Ab Versandbeginn, zwischen 1m und 72h: 4h, 90m.",
	"Winner by":            "Gewinnerin nach",
	"clicks":               "Klicks",
	"opens":                "Öffnungen",
	"revenue":              "Umsatz",
	"Variant":              "Variante",
	"Recipients":           "Empfänger",
	"Clicked":              "Geklickt",
	"Winner":               "Gewinnerin",
	"chosen automatically": "automatisch gewählt",
	"picked by hand":       "von Hand gewählt",
	"The winner is chosen by %s at %s; %s recipients wait for it.":                       "Die Gewinnerin wird nach %s am %s gewählt; %s Empfänger warten darauf.",
	"%s recipients got the winner.":                                                      "%s Empfänger bekamen die Gewinnerin.",
	"Figures of the test recipients; opens and clicks only of those who allow tracking.": "Zahlen der Testempfänger; Öffnungen und Klicks nur von denen, die Tracking erlauben.",
	"Send this variant to the rest now":                                                  "Diese Variante jetzt an den Rest senden",
	"Pick the winner":                                                                    "Gewinnerin wählen",
	"Send variant %s to the rest of the audience now?":                                   "Variante %s jetzt an die übrigen Empfänger senden?",
	"Winner picked: it goes to the rest of the audience.":                                "Gewinnerin gewählt: Sie geht an die übrigen Empfänger.",
}

func init() {
	uiFlashes["winner-picked"] = "Winner picked: it goes to the rest of the audience."
	for k, v := range abGerman {
		uiGerman[k] = v
	}
}
