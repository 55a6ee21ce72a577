package web

// The "New flow" page: slug, name, trigger and the first mail with its
// preview; the flow editor (ui_flows.go) then adds the further steps, each
// with its own preview. Steps other than mails are made over the API.

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/flows"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/retention"
	"github.com/treu-mail/treu/segments"
)

// flowNewData is the form as typed.
type flowNewData struct {
	Slug, Name, Kind, Event, Stage, Attribute string
	SegmentID                                 int64
	Delay, Subject, Markdown                  string
	Stages                                    []string
	Segments                                  []segments.Segment
	Field                                     string
}

// flowKinds are the triggers the form offers, in its order.
var flowKinds = []struct{ Value, Label string }{
	{"event", "A shop event"},
	{"confirmed", "A subscriber confirms"},
	{"stage", "A customer reaches a stage"},
	{"date_attribute", "A date in an attribute, once a year"},
	{"segment", "A subscriber enters a segment"},
}

func (u *ui) newFlow(c echo.Context) error {
	return u.renderNewFlow(c, http.StatusOK, flowNewData{Kind: "event", Delay: "0"}, "")
}

func (u *ui) renderNewFlow(c echo.Context, status int, d flowNewData, msg string) error {
	if u.flows == nil {
		return errs.NotFoundf("flows are not available")
	}
	d.Stages = retention.Stages
	if u.segments != nil {
		var err error
		if d.Segments, err = u.segments.List(c.Request().Context()); err != nil {
			return err
		}
	}
	return u.render(c, status, "flownew", uiPage{Title: "New flow", Nav: "flows", Error: msg,
		Data: map[string]any{"Form": d, "Kinds": flowKinds, "Templates": flows.Templates()}})
}

// createFlow makes the flow, switched off, and opens its editor.
func (u *ui) createFlow(c echo.Context) error {
	if u.flows == nil {
		return errs.NotFoundf("flows are not available")
	}
	form, err := c.FormParams()
	if err != nil {
		return errs.Malformedf("", "unreadable form")
	}
	get := func(k string) string { return strings.TrimSpace(form.Get(k)) }
	d := flowNewData{Slug: get("slug"), Name: get("name"), Kind: get("kind"), Event: get("event"), Stage: get("stage"),
		Attribute: get("date_attribute"), Delay: get("steps[0].delay"), Subject: get("steps[0].subject"),
		Markdown: crlf(form.Get("steps[0].markdown"))}
	f := flows.Flow{Slug: d.Slug, Name: d.Name}
	switch d.Kind {
	case "event":
		f.Trigger.Event = d.Event
	case "confirmed":
		f.Trigger.Confirmed = true
	case "stage":
		f.Trigger.Stage = d.Stage
	case "date_attribute":
		f.Trigger.DateAttribute = d.Attribute
	case "segment":
		id, err := strconv.ParseInt(form.Get("segment_id"), 10, 64)
		if err != nil || id <= 0 {
			d.Field = "trigger.segment_id"
			return u.renderNewFlow(c, http.StatusUnprocessableEntity, d, u.tr(c, "Choose a segment."))
		}
		d.SegmentID = id
		f.Trigger.SegmentID = &id
	default:
		d.Field = "trigger"
		return u.renderNewFlow(c, http.StatusUnprocessableEntity, d, u.tr(c, "Choose what starts the flow."))
	}
	delay, err := parseDelay(d.Delay)
	if err != nil {
		d.Field = "steps[0].delay"
		return u.renderNewFlow(c, http.StatusUnprocessableEntity, d, err.Error())
	}
	f.Steps = []flows.Step{{Delay: flows.Duration(delay), Subject: d.Subject, Markdown: d.Markdown}}
	created, err := u.flows.Create(c.Request().Context(), f)
	if err != nil {
		e, ok := errs.As(err)
		if !ok || e.Kind == errs.Internal || e.Kind == errs.NotFound {
			return err
		}
		d.Field = e.Field
		return u.renderNewFlow(c, kindStatus[e.Kind], d, e.Msg)
	}
	u.srv.record(c, "flow.create", "flow "+created.Slug, "1 step")
	return u.redirectDone(c, "/ui/flows/"+created.Slug, "flow-saved")
}

// createFlowFromTemplate: "Use this template" makes the ready-made flow,
// switched off, under the template's slug, and opens its editor.
func (u *ui) createFlowFromTemplate(c echo.Context) error {
	if u.flows == nil {
		return errs.NotFoundf("flows are not available")
	}
	t, err := flows.TemplateByKey(c.FormValue("template"))
	if err != nil {
		return err
	}
	f := t.Flow
	f.Enabled = false
	f.Name = u.tr(c, f.Name)
	created, err := u.flows.Create(c.Request().Context(), f)
	if err != nil {
		e, ok := errs.As(err)
		if !ok || e.Kind == errs.Internal || e.Kind == errs.NotFound {
			return err
		}
		msg := e.Msg
		if e.Kind == errs.Conflict {
			msg = u.tr(c, "A flow with this template's short name exists already; open it from the flow list.")
		}
		return u.renderNewFlow(c, kindStatus[e.Kind], flowNewData{Kind: "event", Delay: "0"}, msg)
	}
	u.srv.record(c, "flow.create", "flow "+created.Slug, "from template "+t.Key)
	return u.redirectDone(c, "/ui/flows/"+created.Slug, "flow-saved")
}
