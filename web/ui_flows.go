package web

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/templates"
)

// uiFlows is what the UI needs of the flow engine (*flows.Engine).
type uiFlows interface {
	List(ctx context.Context) ([]flows.Flow, error)
	Get(ctx context.Context, slug string) (flows.Flow, error)
	Put(ctx context.Context, slug string, in flows.Flow) (flows.Flow, error)
	Create(ctx context.Context, in flows.Flow) (flows.Flow, error)
	Stats(ctx context.Context, slug string) (flows.Stats, error)
}

// flowInfo names the built-in flows for marketers (English UI strings).
var flowInfo = map[string]struct{ Name, About, Trigger string }{
	flows.Welcome: {"Welcome", "Mails to new subscribers, starting when they confirm.",
		"after the subscriber confirms"},
	flows.CartAbandonment: {"Cart abandonment", "Reminders about a cart left in the shop. A run ends when the subscriber orders or the cart is cleared.",
		"after the last change to the cart"},
	flows.Offers: {"Offers", "A recurring offer to a segment on a schedule, usually with a personal coupon code.",
		"after the round starts"},
}

// flowEndReasons explain why runs ended early (flows.End*).
var flowEndReasons = map[string]string{
	flows.EndNotSubscribed:   "No longer subscribed",
	flows.EndOrdered:         "Ordered",
	flows.EndCartCleared:     "Cart cleared",
	flows.EndCartEmpty:       "Cart emptied",
	flows.EndCouponPoolEmpty: "No coupon code left",
	flows.EndLate:            "Due too long ago (Treu was down)",
	flows.EndRenderFailed:    "Mail could not be rendered",
}

// flowLocaleNames label a step's texts per language.
var flowLocaleNames = map[string]string{"de": "German text", "en": "English text"}

// maxFlowSteps mirrors the engine's limit, so the form offers no step it refuses.
const maxFlowSteps = 10

type flowListRow struct {
	Slug, Name, About string
	Enabled, Default  bool
	Steps             int
	Stats             flows.Stats
	Revenue           string
}

func (u *ui) flowList(c echo.Context) error {
	if u.flows == nil {
		return errs.NotFoundf("flows are not available")
	}
	rows, err := u.flowRows(c)
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "flows", uiPage{Title: "Flows", Nav: "flows", Flash: u.flashOf(c), Data: rows})
}

// flowRows lists the flows with their figures, for the flows page and the
// dashboard; none while the flow engine is not wired.
func (u *ui) flowRows(c echo.Context) ([]flowListRow, error) {
	if u.flows == nil {
		return nil, nil
	}
	ctx := c.Request().Context()
	list, err := u.flows.List(ctx)
	if err != nil {
		return nil, err
	}
	lang := u.lang(c)
	var rows []flowListRow
	for _, f := range list {
		st, err := u.flows.Stats(ctx, f.Slug)
		if err != nil {
			return nil, err
		}
		info := flowInfo[f.Slug]
		rows = append(rows, flowListRow{Slug: f.Slug, Name: orSlug(orSlug(info.Name, f.Name), f.Slug), About: info.About, Enabled: f.Enabled,
			Default: f.Default, Steps: len(f.Steps), Stats: st, Revenue: formatMoney(lang, st.Revenue)})
	}
	return rows, nil
}

func orSlug(name, slug string) string {
	if name == "" {
		return slug
	}
	return name
}

// flowData is the flow editor.
type flowData struct {
	Slug, Name, About, Trigger string
	Enabled                    bool
	Default                    bool
	Version                    int64
	Cron                       string
	SegmentID                  int64 // 0: every active subscriber
	IsOffers                   bool
	CanAdd, CanRemove          bool
	Steps                      []flowStepForm
	Segments                   []segments.Segment
	Pools                      []string // slugs of the pools a step may draw from
	Field                      string   // the form field an error is about, e.g. "steps[1].markdown"
	Stats                      flowStatsView
	// APIOnly: the flow has steps other than mails, which this form cannot
	// edit; the page lists Outline (one line per step) instead.
	APIOnly bool
	Outline []string
}

// flowStepForm is one step as the form shows it; Delay as typed.
type flowStepForm struct {
	Index, Number                 int
	Delay                         string
	Subject, Markdown, CouponPool string
	PoolMissing                   bool // CouponPool names a pool that does not exist
	Texts                         []flowTextForm
	PreviewLocale                 string
}

type flowTextForm struct {
	Locale, Label     string
	Subject, Markdown string
}

type flowStatsView struct {
	flows.Stats
	Revenue, RecoveredRevenue, RecoveryRate string
	Ended                                   []reasonCount
	StepRows                                []stepStatsRow
	IsCart                                  bool
}

type reasonCount struct {
	Label string
	Count int64
}

type stepStatsRow struct {
	flows.StepStats
	Number     int
	EndedEarly int64
	Revenue    string
}

func (u *ui) flowPage(c echo.Context) error {
	f, err := u.flow(c)
	if err != nil {
		return err
	}
	return u.renderFlow(c, http.StatusOK, f, nil, u.flashOf(c), "", "")
}

// flow loads the flow named in the URL.
func (u *ui) flow(c echo.Context) (flows.Flow, error) {
	if u.flows == nil {
		return flows.Flow{}, errs.NotFoundf("no such flow")
	}
	f, err := u.flows.Get(c.Request().Context(), c.Param("slug"))
	if errs.Is(err, errs.NotFound) {
		return flows.Flow{}, errs.NotFoundf("no such flow")
	}
	return f, err
}

// renderFlow shows the editor for f. delays are the delays as typed (nil:
// f's own), so a mistyped delay is shown again as it was.
func (u *ui) renderFlow(c echo.Context, status int, f flows.Flow, delays []string, flash, msg, field string) error {
	ctx := c.Request().Context()
	info := flowInfo[f.Slug]
	if info.Trigger == "" {
		info.Trigger = triggerText(f.Trigger)
	}
	d := flowData{Slug: f.Slug, Name: orSlug(orSlug(info.Name, f.Name), f.Slug), About: info.About, Trigger: info.Trigger,
		Enabled: f.Enabled, Default: f.Default, Version: f.Version, Cron: f.Cron, IsOffers: f.Slug == flows.Offers,
		CanAdd: len(f.Steps) < maxFlowSteps, CanRemove: len(f.Steps) > 1, Field: field}
	if f.SegmentID != nil {
		d.SegmentID = *f.SegmentID
	}
	if u.coupons != nil {
		pools, err := u.coupons.List(ctx)
		if err != nil {
			return err
		}
		for _, p := range pools {
			d.Pools = append(d.Pools, p.Slug)
		}
	}
	if d.IsOffers && u.segments != nil {
		var err error
		if d.Segments, err = u.segments.List(ctx); err != nil {
			return err
		}
	}
	for i, st := range f.Steps {
		if st.Type != "" && st.Type != flows.StepSend {
			d.APIOnly = true
		}
		d.Outline = append(d.Outline, stepOutline(i, st))
	}
	previewLocale := u.lang(c) // the preview starts in the UI's language
	for i, st := range f.Steps {
		sf := flowStepForm{Index: i, Number: i + 1, Delay: formatDelay(time.Duration(st.Delay)), Subject: st.Subject, Markdown: st.Markdown,
			CouponPool: st.CouponPool, PoolMissing: st.CouponPool != "" && !slices.Contains(d.Pools, st.CouponPool),
			PreviewLocale: previewLocale}
		if i < len(delays) {
			sf.Delay = delays[i]
		}
		for _, loc := range flows.Locales {
			t := st.Locales[loc]
			sf.Texts = append(sf.Texts, flowTextForm{Locale: loc, Label: flowLocaleNames[loc], Subject: t.Subject, Markdown: t.Markdown})
		}
		d.Steps = append(d.Steps, sf)
	}
	st, err := u.flows.Stats(ctx, f.Slug)
	if err != nil {
		return err
	}
	d.Stats = u.statsView(c, st)
	return u.render(c, status, "flow", uiPage{Title: d.Name, Nav: "flows", Flash: flash, Error: msg, Data: d})
}

func (u *ui) statsView(c echo.Context, st flows.Stats) flowStatsView {
	lang := u.lang(c)
	v := flowStatsView{Stats: st, Revenue: formatMoney(lang, st.Revenue), RecoveredRevenue: formatMoney(lang, st.RecoveredRevenue),
		RecoveryRate: formatPercent(lang, st.RecoveryRate), IsCart: st.Flow == flows.CartAbandonment}
	for _, reason := range slices.Sorted(maps.Keys(st.Ended)) {
		label := reason
		if l, ok := flowEndReasons[reason]; ok {
			label = u.tr(c, l)
		}
		v.Ended = append(v.Ended, reasonCount{Label: label, Count: st.Ended[reason]})
	}
	for _, s := range st.Steps {
		row := stepStatsRow{StepStats: s, Number: s.Step + 1, Revenue: formatMoney(lang, s.Revenue)}
		for _, n := range s.Ended {
			row.EndedEarly += n
		}
		v.StepRows = append(v.StepRows, row)
	}
	return v
}

// flowForm reads the flow editor. It returns the flow as typed, the delays
// as typed, and the first delay that could not be read (the engine judges
// everything else).
func flowForm(form url.Values, slug string) (flows.Flow, []string, error) {
	f := flows.Flow{Slug: slug, Enabled: form.Get("enabled") != "", Cron: strings.TrimSpace(form.Get("cron"))}
	var firstErr error
	if v := form.Get("segment_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			firstErr = errs.Invalidf("segment_id", "unknown segment")
		} else {
			f.SegmentID = &id
		}
	}
	var delays []string
	for i := 0; i <= maxFlowSteps; i++ {
		p := fmt.Sprintf("steps[%d].", i)
		if _, ok := form[p+"subject"]; !ok {
			break
		}
		st := flows.Step{Subject: strings.TrimSpace(form.Get(p + "subject")), Markdown: crlf(form.Get(p + "markdown")),
			CouponPool: form.Get(p + "coupon_pool")}
		delay := strings.TrimSpace(form.Get(p + "delay"))
		delays = append(delays, delay)
		d, err := parseDelay(delay)
		if err != nil && firstErr == nil {
			firstErr = errs.Invalidf(p+"delay", "%s", err.Error())
		}
		st.Delay = flows.Duration(d)
		for _, loc := range flows.Locales {
			lp := p + "locales." + loc + "."
			t := flows.Text{Subject: strings.TrimSpace(form.Get(lp + "subject")), Markdown: crlf(form.Get(lp + "markdown"))}
			if t.Subject == "" && strings.TrimSpace(t.Markdown) == "" {
				continue // no text of its own: the step's text serves
			}
			if st.Locales == nil {
				st.Locales = map[string]flows.Text{}
			}
			st.Locales[loc] = t
		}
		f.Steps = append(f.Steps, st)
	}
	return f, delays, firstErr
}

func crlf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// parseDelay reads a step's delay: a Go duration ("1h", "90m") or whole
// days ("3d", also "1d12h"), which is how marketers think of waits.
func parseDelay(s string) (time.Duration, error) {
	bad := fmt.Errorf("a delay looks like 30m, 1h or 3d, not %q", s)
	if s == "" {
		return 0, fmt.Errorf("a delay is required, e.g. 1h or 3d")
	}
	var d time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		days, err := strconv.Atoi(s[:i])
		if err != nil || days < 0 || days > 366 {
			return 0, bad
		}
		d = time.Duration(days) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return d, nil
		}
	}
	rest, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad
	}
	return d + rest, nil
}

// formatDelay writes a delay the way parseDelay reads it, shortest first.
func formatDelay(d time.Duration) string {
	const day = 24 * time.Hour
	if d == 0 {
		return "0"
	}
	if d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if strings.HasSuffix(s, "m") || strings.HasSuffix(s, "h") || strings.HasSuffix(s, "s") {
		return s
	}
	return d.String()
}

// saveFlow saves the editor, or adds or removes a step without saving
// (buttons named action), so the page needs no script to grow a flow.
func (u *ui) saveFlow(c echo.Context) error {
	cur, err := u.flow(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return errs.Malformedf("", "unreadable form")
	}
	f, delays, ferr := flowForm(form, cur.Slug)
	f.Version, f.Default = cur.Version, false
	// The form edits mails; what it has no fields for stays as saved.
	f.Name, f.Trigger, f.Exit, f.OncePerPerson, f.Cooldown = cur.Name, cur.Trigger, cur.Exit, cur.OncePerPerson, cur.Cooldown
	for _, st := range cur.Steps {
		if st.Type != "" && st.Type != flows.StepSend {
			return u.renderFlow(c, http.StatusUnprocessableEntity, cur, nil, "",
				u.tr(c, "This flow has steps other than mails; edit it over the API (PUT /api/flows/{slug})."), "steps")
		}
	}
	switch action := form.Get("action"); {
	case action == "add-step":
		if len(f.Steps) >= maxFlowSteps {
			return u.renderFlow(c, http.StatusUnprocessableEntity, f, delays, "", u.tr(c, "A flow has at most 10 steps."), "steps")
		}
		f.Steps = append(f.Steps, flows.Step{Delay: flows.Duration(24 * time.Hour)})
		delays = append(delays, "1d")
		return u.renderFlow(c, http.StatusOK, f, delays, u.tr(c, "Step added. Save to keep the change."), "", "")
	case strings.HasPrefix(action, "remove-step-"):
		i, err := strconv.Atoi(strings.TrimPrefix(action, "remove-step-"))
		if err != nil || i < 0 || i >= len(f.Steps) || len(f.Steps) == 1 {
			return errs.Malformedf("action", "no such step")
		}
		f.Steps = slices.Delete(f.Steps, i, i+1)
		if i < len(delays) {
			delays = slices.Delete(delays, i, i+1)
		}
		return u.renderFlow(c, http.StatusOK, f, delays, u.tr(c, "Step removed. Save to keep the change."), "", "")
	}
	if ferr != nil {
		e, _ := errs.As(ferr)
		return u.renderFlow(c, http.StatusUnprocessableEntity, f, delays, "", e.Msg, e.Field)
	}
	// Someone else saved since this form was loaded: do not overwrite
	// their steps unseen. The form keeps what was typed; saving again wins.
	if v, _ := strconv.ParseInt(form.Get("version"), 10, 64); v != cur.Version {
		return u.renderFlow(c, http.StatusConflict, f, delays, "",
			u.tr(c, "Someone else saved this flow meanwhile. Your version is below; save again to replace theirs."), "")
	}
	f.ExistingCustomers = cur.ExistingCustomers // set over the API; the form keeps it
	if _, err := u.flows.Put(c.Request().Context(), cur.Slug, f); err != nil {
		e, ok := errs.As(err)
		if !ok || e.Kind == errs.Internal || e.Kind == errs.NotFound {
			return err
		}
		return u.renderFlow(c, kindStatus[e.Kind], f, delays, "", e.Msg, e.Field)
	}
	u.srv.record(c, "flow.update", "flow "+cur.Slug, fmt.Sprintf("enabled %t, %d steps", f.Enabled, len(f.Steps)))
	return u.redirectDone(c, "/ui/flows/"+cur.Slug, "flow-saved")
}

type flowPreviewData struct {
	Step                 int
	Subject, HTML, Text  string
	Error, Locale, Field string
}

// previewFlowStep renders one step of the editor as it is now, in the
// chosen language, with the renderer the flow's sends use
// (templates.Compile/Render) and a sample recipient, cart and coupon.
func (u *ui) previewFlowStep(c echo.Context) error {
	slug := c.Param("slug")
	var event map[string]any
	if _, ok := flowInfo[slug]; !ok && slug != "new" {
		f, err := u.flows.Get(c.Request().Context(), slug)
		if err != nil {
			return err
		}
		if f.Trigger.Event != "" {
			event = sampleEvent(f.Trigger.Event)
		}
	}
	if slug == "new" {
		event = sampleEvent("order.shipped")
	}
	form, err := c.FormParams()
	if err != nil {
		return errs.Malformedf("", "unreadable form")
	}
	f, _, _ := flowForm(form, slug) // a bad delay does not matter here
	i, err := strconv.Atoi(form.Get("preview_step"))
	d := flowPreviewData{Step: i, Locale: form.Get(fmt.Sprintf("steps[%d].preview_locale", i))}
	if d.Locale != "de" && d.Locale != "en" {
		d.Locale = u.lang(c)
	}
	if err != nil || i < 0 || i >= len(f.Steps) {
		return errs.NotFoundf("no such step")
	}
	st := f.Steps[i]
	text := flows.Text{Subject: st.Subject, Markdown: st.Markdown}
	if t, ok := st.Locales[d.Locale]; ok {
		text = t
	}
	r, err := u.renderSample(slug, st.CouponPool != "", text, d.Locale, event)
	if err != nil {
		e, ok := errs.As(err)
		if !ok || e.Kind == errs.Internal {
			return err
		}
		d.Error, d.Field = e.Msg, e.Field
	} else {
		d.Subject, d.HTML, d.Text = r.Subject, r.HTML, r.Text
	}
	return u.renderFragment(c, "flow", "flowpreview", d)
}

// renderSample renders a text for a made-up recipient with the footer the
// installation's mails carry.
func (u *ui) renderSample(slug string, coupon bool, t flows.Text, locale string, event map[string]any) (templates.Rendered, error) {
	if strings.TrimSpace(t.Subject) == "" || strings.TrimSpace(t.Markdown) == "" {
		return templates.Rendered{}, errs.Invalidf("markdown", "subject and text are needed for a preview")
	}
	tpl, err := templates.Compile(templates.Source{Subject: t.Subject, Markdown: t.Markdown, Locale: locale,
		Footer: templates.Footer{ShopName: u.settings.ShopName, Impressum: u.settings.Impressum}})
	if err != nil {
		return templates.Rendered{}, err
	}
	base := strings.TrimRight(u.cfg.BaseURL, "/")
	d := &templates.Data{Email: "kim@example.com", Name: "Kim Muster", Locale: locale,
		Attributes:     map[string]any{"city": "Berlin"},
		UnsubscribeURL: base + "/unsubscribe/preview", PreferencesURL: base + "/preferences/preview", Event: event,
		SurveyURL: base + "/nps/preview", ReferralURL: base + "/r/preview"}
	if coupon {
		d.Coupon = "PREVIEW-7KX2QF"
	}
	if slug == flows.CartAbandonment {
		d.Cart = &templates.Cart{ID: "preview", URL: "https://shop.example/cart", Currency: "EUR", Total: 74.80,
			Items: []templates.Item{
				{SKU: "TEA-01", Name: "Sencha, 100 g", Price: 12.90, Quantity: 2, URL: "https://shop.example/p/sencha"},
				{SKU: "MUG-02", Name: "Teebecher", Price: 49.00, Quantity: 1, URL: "https://shop.example/p/becher"},
			}}
	}
	return tpl.Render(d)
}

// formatMoney writes an amount in the shop's currency units with two
// decimals: 1,234.50 in English, 1.234,50 in German.
func formatMoney(lang string, f float64) string {
	cents := int64(math.Round(f * 100))
	neg := cents < 0
	if neg {
		cents = -cents
	}
	sep := "."
	if lang == "de" {
		sep = ","
	}
	s := formatNum(lang, cents/100) + sep + fmt.Sprintf("%02d", cents%100)
	if neg {
		return "-" + s
	}
	return s
}

// formatPercent writes a share (0.125) as a percentage with one decimal.
func formatPercent(lang string, share float64) string {
	s := strconv.FormatFloat(math.Round(share*1000)/10, 'f', 1, 64)
	if lang == "de" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s + " %"
}

// poolsUsedBy maps coupon pools to the flows whose steps draw from them.
func poolsUsedBy(list []flows.Flow) map[string][]string {
	out := map[string][]string{}
	for _, f := range list {
		for _, st := range f.Steps {
			if st.CouponPool != "" && !slices.Contains(out[st.CouponPool], f.Slug) {
				out[st.CouponPool] = append(out[st.CouponPool], f.Slug)
			}
		}
	}
	return out
}

// triggerText says in words when a marketer's flow starts.
func triggerText(t flows.Trigger) string {
	switch {
	case t.Confirmed:
		return "after the subscriber confirms"
	case t.Event != "":
		return "after the shop reports " + t.Event
	case t.Stage != "":
		return "after the customer becomes " + strings.ReplaceAll(t.Stage, "_", " ")
	case t.DateAttribute != "":
		return "on the day in the attribute " + t.DateAttribute + ", once a year"
	case t.SegmentID != nil:
		return fmt.Sprintf("after the subscriber enters segment %d", *t.SegmentID)
	}
	return ""
}

// sampleEvent is a made-up event of type typ for a preview: an order and
// some data, so {{ .Event.order.id }} and {{ .Event.data.x }} show something.
func sampleEvent(typ string) map[string]any {
	return map[string]any{"type": typ, "id": "preview", "email": "kim@example.com",
		"order": map[string]any{"id": "1001", "currency": "EUR", "total": 74.8},
		"data":  map[string]any{"id": "1001", "name": "Kim", "url": "https://shop.example/track/1001", "tracking_url": "https://shop.example/track/1001"}}
}

// stepOutline says in one line what a step does.
func stepOutline(i int, st flows.Step) string {
	wait := ""
	if st.Delay > 0 {
		wait = "after " + formatDelay(time.Duration(st.Delay)) + ", "
	}
	if st.Until != nil {
		wait += "on the next " + orSlug(st.Until.Weekday, "day") + " at " + st.Until.Time + ", "
	}
	what := ""
	switch st.Type {
	case "", flows.StepSend:
		what = fmt.Sprintf("mail %q", st.Subject)
		if st.CouponPool != "" {
			what += " with a code of " + st.CouponPool
		}
	case flows.StepWait:
		what = "wait"
	case flows.StepCondition:
		rule := "the rule"
		if st.SegmentID != nil {
			rule = fmt.Sprintf("segment %d", *st.SegmentID)
		} else if st.Rule != nil {
			if b, err := json.Marshal(st.Rule); err == nil {
				rule = string(b)
			}
		}
		no := "end"
		if st.No != 0 {
			no = fmt.Sprintf("go to step %d", int(st.No)+1)
		}
		what = "if " + rule + " matches go on, else " + no
	case flows.StepCoupon:
		what = "assign a code of " + st.CouponPool
	case flows.StepList:
		what = st.Action + " list " + st.List
	case flows.StepAttribute:
		what = st.Action + " attribute " + st.Key
		if st.Action == "set" {
			what += " = " + string(st.Value)
		}
	case flows.StepWebhook:
		what = "send the webhook flow.webhook"
	}
	return fmt.Sprintf("%d. %s%s", i+1, wait, what)
}
