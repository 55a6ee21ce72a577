package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/segments"
)

// uiSegmentEditor is what the segments pages need of *segments.Store beyond
// the composer's uiSegments. UIDeps.Segments provides it when it can (the
// store does); one that cannot leaves the pages read-only.
type uiSegmentEditor interface {
	uiSegments
	Create(ctx context.Context, name string, rule segments.Rule) (segments.Segment, error)
	Update(ctx context.Context, id int64, name string, rule segments.Rule) (segments.Segment, error)
	Delete(ctx context.Context, id int64) error
}

// moreFlashes are the success messages of the segments, flows, coupons and
// import pages, under the same rule as uiFlashes: the URL carries a code only.
var moreFlashes = map[string]string{
	"segment-saved":   "Segment saved.",
	"segment-deleted": "Segment deleted.",
	"flow-saved":      "Flow saved.",
	"pool-created":    "Coupon pool created.",
	"codes-generated": "Codes generated.",
	"layout-saved":    "Layout saved.",
	"layout-deleted":  "Layout deleted.",
	"tx-saved":        "Template saved.",
	"tx-deleted":      "Template deleted.",
}

// flashOf is flash for the pages in this file set and the older ones alike.
func (u *ui) flashOf(c echo.Context) string {
	if key, ok := moreFlashes[c.QueryParam("done")]; ok {
		return u.tr(c, key)
	}
	return u.flash(c)
}

// ruleField is one field the rule builder offers; the builder script reads
// the table as JSON, so the field list and its labels live in one place.
type ruleField struct {
	Name   string   `json:"name"` // as in a rule; "attributes." asks for a key
	Label  string   `json:"label"`
	Kind   string   `json:"kind"` // text, enum, number, date, list, attr: how a value is typed
	Ops    []string `json:"ops"`
	Values []string `json:"values,omitempty"` // suggestions: enum values, list slugs
}

// The fields and the ops that apply to each, as segments/compile.go accepts them.
var ruleFields = []ruleField{
	{Name: "email", Label: "Email", Kind: "text", Ops: []string{"eq", "ne", "contains", "starts_with", "in"}},
	{Name: "name", Label: "Name", Kind: "text", Ops: []string{"eq", "ne", "contains", "starts_with", "in"}},
	{Name: "locale", Label: "Language", Kind: "enum", Ops: []string{"eq", "ne", "in"}, Values: []string{"de", "en"}},
	{Name: "status", Label: "Status", Kind: "enum", Ops: []string{"eq", "ne", "in"}, Values: []string{"active", "pending", "unsubscribed"}},
	{Name: "created_at", Label: "Subscribed", Kind: "date", Ops: []string{"within_days", "before", "after"}},
	{Name: "list", Label: "List", Kind: "list", Ops: []string{"eq", "ne", "in"}},
	{Name: "orders.count", Label: "Number of orders", Kind: "number", Ops: []string{"gte", "lte", "eq", "ne", "gt", "lt", "in"}},
	{Name: "orders.total", Label: "Order total", Kind: "number", Ops: []string{"gte", "lte", "eq", "ne", "gt", "lt", "in"}},
	{Name: "orders.last_at", Label: "Last order", Kind: "date", Ops: []string{"within_days", "before", "after", "exists"}},
	{Name: "stage", Label: "Customer stage", Kind: "enum", Ops: []string{"eq", "ne", "in"}, Values: retention.Stages},
	{Name: "attributes.", Label: "Attribute", Kind: "attr", Ops: []string{"eq", "ne", "contains", "starts_with", "in", "lt", "lte", "gt", "gte", "exists", "within_days", "before", "after"}},
}

// ruleOps are the ops' labels in the builder and in rule summaries.
var ruleOps = map[string]string{
	"eq": "is", "ne": "is not", "lt": "less than", "lte": "at most", "gt": "more than", "gte": "at least",
	"contains": "contains", "starts_with": "starts with", "in": "is one of", "exists": "is set",
	"within_days": "within the last (days)", "before": "before", "after": "after",
}

// ruleGroups are the builder's group kinds: all → {"all"}, any → {"any"},
// none → {"not": {"any"}}.
var ruleGroups = map[string]string{"all": "all of", "any": "any of", "none": "none of"}

// builderConfig is the JSON the builder script reads from data-config.
func (u *ui) builderConfig(c echo.Context) (string, error) {
	fields := make([]ruleField, len(ruleFields))
	copy(fields, ruleFields)
	var slugs []string
	if u.subscribers != nil {
		lists, err := u.subscribers.Lists(c.Request().Context())
		if err != nil {
			return "", err
		}
		for _, l := range lists {
			slugs = append(slugs, l.Slug)
		}
	}
	for i := range fields {
		fields[i].Label = u.tr(c, fields[i].Label)
		if fields[i].Kind == "list" {
			fields[i].Values = slugs
		}
	}
	ops := map[string]string{}
	for k, v := range ruleOps {
		ops[k] = u.tr(c, v)
	}
	groups := map[string]string{}
	for k, v := range ruleGroups {
		groups[k] = u.tr(c, v)
	}
	b, err := json.Marshal(map[string]any{
		"fields": fields, "ops": ops, "groups": groups,
		"text": map[string]string{
			"match":       u.tr(c, "Subscribers who match"),
			"field":       u.tr(c, "Field"),
			"op":          u.tr(c, "Comparison"),
			"addCond":     u.tr(c, "Add condition"),
			"addGroup":    u.tr(c, "Add group"),
			"remove":      u.tr(c, "Remove"),
			"key":         u.tr(c, "Attribute name"),
			"value":       u.tr(c, "Value"),
			"yes":         u.tr(c, "yes"),
			"no":          u.tr(c, "no"),
			"everyone":    u.tr(c, "No conditions: everyone on any list."),
			"tooComplex":  u.tr(c, "This rule is too complex for the builder; edit it as JSON below."),
			"valueHintIn": u.tr(c, "Separate values with commas."),
		},
	})
	return string(b), err
}

type segmentRow struct {
	segments.Segment
	Summary string
}

type segmentsData struct {
	Segments []segmentRow
	CanEdit  bool
}

func (u *ui) segmentList(c echo.Context) error {
	if u.segments == nil {
		return errs.NotFoundf("segments are not available")
	}
	list, err := u.segments.List(c.Request().Context())
	if err != nil {
		return err
	}
	d := segmentsData{}
	_, d.CanEdit = u.segments.(uiSegmentEditor)
	for _, s := range list {
		d.Segments = append(d.Segments, segmentRow{Segment: s, Summary: u.describeRule(c, s.Rule)})
	}
	return u.render(c, http.StatusOK, "segments", uiPage{Title: "Segments", Nav: "segments", Flash: u.flashOf(c), Data: d})
}

// segmentData is the segment editor: ID 0 for a new one.
type segmentData struct {
	ID      int64
	Name    string
	Rule    string // JSON, as the textarea holds it
	Count   segmentCountData
	Config  string // the builder's JSON
	Field   string // the field an error is about
	Updated time.Time
	CanEdit bool
	// RuleInvalid marks the JSON textarea. It starts open, so the rule can be
	// edited without JavaScript; the builder script folds it away.
	RuleInvalid bool
}

// segmentCountData is the live count beside the builder: a number, or why
// the rule cannot be counted yet.
type segmentCountData struct {
	Count int
	Error string
	Field string
}

func (u *ui) newSegment(c echo.Context) error {
	if _, ok := u.segments.(uiSegmentEditor); !ok {
		return errs.NotFoundf("segments are not available")
	}
	// An empty "all" matches everyone: a valid start the count can show.
	return u.renderSegment(c, http.StatusOK, segmentData{Rule: "{\n  \"all\": []\n}"}, "", "")
}

func (u *ui) segmentPage(c echo.Context) error {
	seg, err := u.segment(c)
	if err != nil {
		return err
	}
	raw, err := json.MarshalIndent(seg.Rule, "", "  ")
	if err != nil {
		return err
	}
	return u.renderSegment(c, http.StatusOK, segmentData{ID: seg.ID, Name: seg.Name, Rule: string(raw), Updated: seg.UpdatedAt}, u.flashOf(c), "")
}

func (u *ui) renderSegment(c echo.Context, status int, d segmentData, flash, msg string) error {
	var err error
	if d.Config, err = u.builderConfig(c); err != nil {
		return err
	}
	_, d.CanEdit = u.segments.(uiSegmentEditor)
	d.Count = u.countRule(c.Request().Context(), d.Rule)
	d.RuleInvalid = strings.HasPrefix(d.Field, "rule")
	title := "New segment"
	if d.ID != 0 {
		title = "Segment"
	}
	return u.render(c, status, "segment", uiPage{Title: title, Nav: "segments", Flash: flash, Error: msg, Data: d})
}

// countRule counts the audience of a rule typed in the form: everyone
// reachable through any list, as a segment's own count does.
func (u *ui) countRule(ctx context.Context, raw string) segmentCountData {
	rule, err := parseRuleField(raw)
	if err == nil {
		var n int
		if n, err = segments.Count(ctx, u.db, &rule, nil, u.db.Now()); err == nil {
			return segmentCountData{Count: n}
		}
	}
	if e, ok := errs.As(err); ok && e.Kind != errs.Internal {
		return segmentCountData{Error: e.Msg, Field: e.Field}
	}
	u.log.Error("segment count failed", "error", err)
	return segmentCountData{Error: "The count failed; see the server log."}
}

// parseRuleField parses the form's rule; an empty one is an error on the
// rule field rather than "not JSON".
func parseRuleField(raw string) (segments.Rule, error) {
	if strings.TrimSpace(raw) == "" {
		return segments.Rule{}, errs.Invalidf("rule", "the rule is empty")
	}
	return segments.Parse([]byte(raw))
}

// ruleCount answers the builder's live count as the marketer edits. An
// unusable rule comes back as its message (status 200, so htmx swaps it in).
func (u *ui) ruleCount(c echo.Context) error {
	return u.renderFragment(c, "segment", "segcount", u.countRule(c.Request().Context(), c.FormValue("rule")))
}

// segmentCount answers one saved segment's count for the list page, which
// loads them one by one so a slow count does not hold up the page.
func (u *ui) segmentCount(c echo.Context) error {
	seg, err := u.segment(c)
	if err != nil {
		return err
	}
	n, err := segments.Count(c.Request().Context(), u.db, &seg.Rule, nil, u.db.Now())
	if err != nil {
		return err
	}
	return u.renderFragment(c, "segments", "listcount", n)
}

func (u *ui) createSegment(c echo.Context) error {
	ed, ok := u.segments.(uiSegmentEditor)
	if !ok {
		return errs.NotFoundf("segments are not available")
	}
	d := segmentData{Name: c.FormValue("name"), Rule: c.FormValue("rule")}
	rule, err := parseRuleField(d.Rule)
	if err == nil {
		var seg segments.Segment
		if seg, err = ed.Create(c.Request().Context(), d.Name, rule); err == nil {
			u.srv.record(c, "segment.create", idTarget("segment", seg.ID), seg.Name)
			return u.redirectDone(c, "/ui/segments/"+strconv.FormatInt(seg.ID, 10), "segment-saved")
		}
	}
	return u.segmentError(c, d, err)
}

func (u *ui) updateSegment(c echo.Context) error {
	seg, err := u.segment(c)
	if err != nil {
		return err
	}
	ed, ok := u.segments.(uiSegmentEditor)
	if !ok {
		return errs.NotFoundf("segments are not available")
	}
	d := segmentData{ID: seg.ID, Name: c.FormValue("name"), Rule: c.FormValue("rule"), Updated: seg.UpdatedAt}
	rule, err := parseRuleField(d.Rule)
	if err == nil {
		if _, err = ed.Update(c.Request().Context(), seg.ID, d.Name, rule); err == nil {
			u.srv.record(c, "segment.update", idTarget("segment", seg.ID), d.Name)
			return u.redirectDone(c, "/ui/segments/"+strconv.FormatInt(seg.ID, 10), "segment-saved")
		}
	}
	return u.segmentError(c, d, err)
}

// segmentError shows the form again with what was typed and the message of
// segments.Parse or the store, whose Field ("rule.all[1].op") the builder
// uses to mark the condition at fault.
func (u *ui) segmentError(c echo.Context, d segmentData, err error) error {
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Internal || e.Kind == errs.NotFound {
		return err
	}
	d.Field = e.Field
	if d.Field == "" && e.Kind == errs.Conflict {
		d.Field = "name" // the only conflict: the name is taken
	}
	return u.renderSegment(c, kindStatus[e.Kind], d, "", e.Msg)
}

// deleteSegment removes a segment that nothing still sends with. Campaigns
// and the offers flow refer to segments without a foreign key, so without
// this check a delete would leave them failing at their next send.
func (u *ui) deleteSegment(c echo.Context) error {
	seg, err := u.segment(c)
	if err != nil {
		return err
	}
	ed, ok := u.segments.(uiSegmentEditor)
	if !ok {
		return errs.NotFoundf("segments are not available")
	}
	users, err := u.segmentUsers(c.Request().Context(), seg.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		raw, _ := json.MarshalIndent(seg.Rule, "", "  ")
		d := segmentData{ID: seg.ID, Name: seg.Name, Rule: string(raw), Updated: seg.UpdatedAt}
		return u.renderSegment(c, http.StatusConflict, d, "",
			u.tr(c, "This segment is still in use; change these first:")+" "+strings.Join(users, ", "))
	}
	if err := ed.Delete(c.Request().Context(), seg.ID); err != nil {
		return err
	}
	u.srv.record(c, "segment.delete", idTarget("segment", seg.ID), seg.Name)
	return u.redirectDone(c, "/ui/segments", "segment-deleted")
}

// segmentUsers names the campaigns that may still send to the segment and
// the flows that use it.
func (u *ui) segmentUsers(ctx context.Context, id int64) ([]string, error) {
	cs, err := campaigns.UsingSegment(ctx, u.db, id)
	if err != nil {
		return nil, err
	}
	fs, err := flows.UsingSegment(ctx, u.db, id)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range cs {
		out = append(out, fmt.Sprintf("campaign %q", n))
	}
	for _, n := range fs {
		out = append(out, fmt.Sprintf("flow %q", n))
	}
	return out, nil
}

func (u *ui) segment(c echo.Context) (segments.Segment, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 || u.segments == nil {
		return segments.Segment{}, errs.NotFoundf("no such segment")
	}
	return u.segments.Get(c.Request().Context(), id)
}

// describeRule is a one-line reading of a rule for the segment list, in the
// UI's language: "Number of orders at least 2 and List is vip".
func (u *ui) describeRule(c echo.Context, r segments.Rule) string {
	const max = 240
	var b strings.Builder
	u.describe(c, &b, r, true)
	s := b.String()
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func (u *ui) describe(c echo.Context, b *strings.Builder, r segments.Rule, top bool) {
	if b.Len() > 300 {
		return
	}
	group := func(rules []segments.Rule, sep string) {
		if !top {
			b.WriteString("(")
		}
		for i, sub := range rules {
			if i > 0 {
				b.WriteString(" " + sep + " ")
			}
			u.describe(c, b, sub, false)
		}
		if !top {
			b.WriteString(")")
		}
	}
	switch {
	case r.All != nil:
		if len(r.All) == 0 {
			b.WriteString(u.tr(c, "everyone"))
			return
		}
		group(r.All, u.tr(c, "and"))
	case r.Any != nil:
		group(r.Any, u.tr(c, "or"))
	case r.Not != nil:
		b.WriteString(u.tr(c, "not") + " ")
		u.describe(c, b, *r.Not, false)
	default:
		label := r.Field
		for _, f := range ruleFields {
			if f.Name == r.Field {
				label = u.tr(c, f.Label)
			}
		}
		op := r.Op
		if l, ok := ruleOps[r.Op]; ok {
			op = u.tr(c, l)
		}
		b.WriteString(label + " " + op + " " + string(r.Value))
	}
}
