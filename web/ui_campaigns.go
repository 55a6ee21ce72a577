package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/segments"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
)

// uiCampaigns is what the UI needs of the campaign engine (*campaigns.Engine).
type uiCampaigns interface {
	List(ctx context.Context, o campaigns.ListOptions) ([]campaigns.Campaign, error)
	Get(ctx context.Context, id int64) (campaigns.Campaign, error)
	Create(ctx context.Context, in campaigns.Input) (campaigns.Campaign, error)
	Update(ctx context.Context, id int64, in campaigns.Input) (campaigns.Campaign, error)
	Preview(ctx context.Context, in campaigns.Input, sampleSubscriberID int64) (templates.Rendered, error)
	Test(ctx context.Context, id int64, emails []string) error
	Start(ctx context.Context, id int64) (campaigns.Campaign, error)
	Pause(ctx context.Context, id int64) (campaigns.Campaign, error)
	Resume(ctx context.Context, id int64) (campaigns.Campaign, error)
	Cancel(ctx context.Context, id int64) (campaigns.Campaign, error)
	PickWinner(ctx context.Context, id int64, variant int) (campaigns.Campaign, error)
	ListLayouts(ctx context.Context) ([]campaigns.Layout, error)
}

// uiSegments is what the composer needs of *segments.Store: the segments to
// pick from and their rules, to count an audience.
type uiSegments interface {
	List(ctx context.Context) ([]segments.Segment, error)
	Get(ctx context.Context, id int64) (segments.Segment, error)
}

type campaignRow = campaigns.Campaign

// recentCampaigns lists the newest campaigns; none while the engine is not wired.
func (u *ui) recentCampaigns(ctx context.Context, n int) ([]campaignRow, error) {
	if u.campaigns == nil {
		return nil, nil
	}
	return u.campaigns.List(ctx, campaigns.ListOptions{Limit: n})
}

const campaignPage = 50

type campaignsData struct {
	Campaigns []campaigns.Campaign
	Next      int64
}

func (u *ui) campaignList(c echo.Context) error {
	if u.campaigns == nil {
		return errs.NotFoundf("campaigns are not available")
	}
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	list, err := u.campaigns.List(c.Request().Context(), campaigns.ListOptions{BeforeID: before, Limit: campaignPage + 1})
	if err != nil {
		return err
	}
	d := campaignsData{Campaigns: list}
	if len(list) > campaignPage {
		d.Campaigns = list[:campaignPage]
		d.Next = d.Campaigns[campaignPage-1].ID
	}
	return u.render(c, http.StatusOK, "campaigns", uiPage{Title: "Campaigns", Nav: "campaigns", Flash: u.flash(c), Data: d})
}

// composerData is the composer page: the campaign being written (ID 0 for a
// new one) and what the form offers.
type composerData struct {
	ID       int64
	Campaign campaigns.Campaign // the saved state: status, stats
	In       campaigns.Input    // what the form shows
	SendAt   string             // In.SendAt for <input type=datetime-local>, in the shop's zone
	Now      string             // the time now in the send time's zone, to compare with
	Editable bool
	Lists    []string
	Segments []segments.Segment
	Layouts  []campaigns.Layout // the picker shows only when there are some
	Pools    []coupons.Pool     // the coupon pool picker, likewise
	Progress *campaignProgress  // once the campaign left draft
	Field    string             // the field an error is about, for aria-invalid
	Audience int
	// Actions the campaign's status allows.
	CanStart, CanPause, CanResume, CanCancel, CanTest bool
	TestEmails                                        string
	// AB is the A/B test's part of the form (ui_abtest.go); CanPick: the
	// test runs and a winner may be picked by hand.
	AB      abForm
	CanPick bool
}

func (u *ui) newCampaign(c echo.Context) error {
	if u.campaigns == nil {
		return errs.NotFoundf("campaigns are not available")
	}
	in := campaigns.Input{Lists: []string{campaigns.DefaultList},
		Markdown: u.tr(c, "Hello,\n\nwrite your news here.")}
	return u.renderComposer(c, http.StatusOK, 0, campaigns.Campaign{Status: campaigns.Draft}, in, "", "", "")
}

func (u *ui) campaignPage(c echo.Context) error {
	cp, err := u.campaign(c)
	if err != nil {
		return err
	}
	return u.renderComposer(c, http.StatusOK, cp.ID, cp, inputOf(cp), u.flash(c), "", "")
}

func inputOf(cp campaigns.Campaign) campaigns.Input {
	in := campaigns.Input{Name: cp.Name, Subject: cp.Subject, Preheader: cp.Preheader, Markdown: cp.Markdown,
		Lists: cp.Lists, SegmentID: cp.SegmentID, LayoutID: cp.LayoutID, SendAt: cp.SendAt, Cron: cp.Cron, CouponPool: cp.CouponPool,
		UTM: &cp.UTM, ContactPolicy: cp.ContactPolicy, ExistingCustomers: cp.ExistingCustomers}
	for _, v := range cp.Variants {
		in.Variants = append(in.Variants, campaigns.Variant{Subject: v.Subject, Preheader: v.Preheader, Markdown: v.Markdown})
	}
	if cp.AB != nil {
		share := cp.AB.TestShare
		in.AB = &campaigns.ABInput{TestShare: &share, Wait: cp.AB.Wait, Metric: cp.AB.Metric}
	}
	return in
}

func (u *ui) renderComposer(c echo.Context, status int, id int64, cp campaigns.Campaign, in campaigns.Input, flash, msg, field string) error {
	ctx := c.Request().Context()
	d := composerData{ID: id, Campaign: cp, In: in, Field: field,
		Editable:  cp.Status == campaigns.Draft || cp.Status == campaigns.Scheduled,
		CanStart:  id != 0 && cp.Status == campaigns.Draft,
		CanPause:  cp.Status == campaigns.Running || cp.Status == campaigns.Scheduled,
		CanResume: cp.Status == campaigns.Paused,
		CanCancel: id != 0 && slices.Contains([]campaigns.Status{campaigns.Scheduled, campaigns.Running, campaigns.Paused}, cp.Status),
		CanTest:   id != 0, TestEmails: c.FormValue("emails"),
		AB: abFormOf(in), CanPick: canPickWinner(cp)}
	if d.TestEmails == "" {
		if user, ok := c.Get(ctxUser).(accounts.User); ok {
			d.TestEmails = user.Email
		}
	}
	if in.SendAt != nil {
		d.SendAt = in.SendAt.In(u.cfg.Location).Format(sendAtLayout)
	}
	d.Now = formatWhen(u.lang(c), u.cfg.Location, u.db.Now())
	if id != 0 && cp.Status != campaigns.Draft {
		p, err := u.progressOf(c, cp)
		if err != nil {
			return err
		}
		d.Progress = &p
	}
	if d.Editable {
		var err error
		if d.Layouts, err = u.campaigns.ListLayouts(ctx); err != nil {
			return err
		}
		if u.coupons != nil {
			if d.Pools, err = u.coupons.List(ctx); err != nil {
				return err
			}
		}
	}
	if u.subscribers != nil {
		lists, err := u.subscribers.Lists(ctx)
		if err != nil {
			return err
		}
		for _, l := range lists {
			d.Lists = append(d.Lists, l.Slug)
		}
	} else {
		d.Lists = []string{campaigns.DefaultList}
	}
	if u.segments != nil {
		var err error
		if d.Segments, err = u.segments.List(ctx); err != nil {
			return err
		}
	}
	n, err := u.audience(ctx, in.Lists, in.SegmentID)
	if err != nil && !errs.Is(err, errs.NotFound) && !errs.Is(err, errs.Invalid) {
		return err
	}
	d.Audience = n
	title := "New campaign"
	if id != 0 {
		title = "Campaign"
	}
	return u.render(c, status, "campaign", uiPage{Title: title, Nav: "campaigns", Flash: flash, Error: msg, Data: d})
}

// audience counts who would get the campaign now: the same rule the send's
// snapshot uses (segments.Count), so the number does not mislead.
func (u *ui) audience(ctx context.Context, lists []string, segmentID *int64) (int, error) {
	if len(lists) == 0 {
		lists = []string{campaigns.DefaultList}
	}
	var rule *segments.Rule
	if segmentID != nil && u.segments != nil {
		seg, err := u.segments.Get(ctx, *segmentID)
		if err != nil {
			return 0, err
		}
		rule = &seg.Rule
	}
	return segments.Count(ctx, u.db, rule, lists, u.db.Now())
}

// sendAtLayout is the value format of <input type=datetime-local>.
const sendAtLayout = "2006-01-02T15:04"

// parseSendAt reads the composer's send time as a wall-clock time in the
// shop's zone: the browser's zone is not sent with the form, and the send
// time must not depend on who saved the campaign where. A time the clocks
// skip (02:30 on the last Sunday of March in Berlin) is refused rather than
// moved; a time they pass twice (02:30 in late October) is the first one.
func parseSendAt(v string, loc *time.Location) (time.Time, error) {
	layout := sendAtLayout
	if len(v) == len(sendAtLayout)+3 {
		layout += ":05" // browsers send seconds when the value has any ("step" attribute)
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}, errs.Invalidf("send_at", "send time must look like 2026-05-01T09:00")
	}
	if t.Format(layout) != v {
		return time.Time{}, errs.Invalidf("send_at", "%s does not exist in %s: the clocks skip it", strings.Replace(v, "T", " ", 1), loc)
	}
	if prev := t.Add(-time.Hour); prev.Format(layout) == v {
		t = prev // the earlier of two equal wall-clock times
	}
	return t, nil
}

// campaignInput reads the composer form. A malformed send time is reported
// on its field; everything else is the engine's to judge.
func (u *ui) campaignInput(c echo.Context) (campaigns.Input, error) {
	form, err := c.FormParams()
	if err != nil {
		return campaigns.Input{}, errs.Malformedf("", "unreadable form")
	}
	in := campaigns.Input{Name: form.Get("name"), Subject: form.Get("subject"), Preheader: form.Get("preheader"),
		Markdown: strings.ReplaceAll(form.Get("markdown"), "\r\n", "\n"), Lists: form["lists"], Cron: strings.TrimSpace(form.Get("cron")),
		CouponPool: strings.TrimSpace(form.Get("coupon_pool")), ContactPolicy: form.Get("contact_policy"),
		ExistingCustomers: form.Get("existing_customers") != ""}
	if v := form.Get("segment_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return in, errs.Invalidf("segment_id", "unknown segment")
		}
		in.SegmentID = &id
	}
	if v := strings.TrimSpace(form.Get("send_at")); v != "" {
		t, err := parseSendAt(v, u.cfg.Location)
		if err != nil {
			return in, err
		}
		in.SendAt = &t
	}
	if v := form.Get("layout_id"); v != "" {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil {
			in.LayoutID = &id
		}
	}
	if form.Get("utm_shown") != "" {
		utm := form.Get("utm") != ""
		in.UTM = &utm
	}
	return in, abInput(form, &in)
}

func (u *ui) createCampaign(c echo.Context) error {
	if u.campaigns == nil {
		return errs.NotFoundf("campaigns are not available")
	}
	in, err := u.campaignInput(c)
	if err == nil {
		var cp campaigns.Campaign
		if cp, err = u.campaigns.Create(c.Request().Context(), in); err == nil {
			u.srv.record(c, "campaign.create", idTarget("campaign", cp.ID), cp.Name)
			return u.redirectDone(c, "/ui/campaigns/"+strconv.FormatInt(cp.ID, 10), "campaign-saved")
		}
	}
	return u.composerError(c, 0, campaigns.Campaign{Status: campaigns.Draft}, in, err)
}

func (u *ui) updateCampaign(c echo.Context) error {
	cp, err := u.campaign(c)
	if err != nil {
		return err
	}
	in, err := u.campaignInput(c)
	if err == nil {
		if _, err = u.campaigns.Update(c.Request().Context(), cp.ID, in); err == nil {
			u.srv.record(c, "campaign.update", idTarget("campaign", cp.ID), in.Name)
			return u.redirectDone(c, "/ui/campaigns/"+strconv.FormatInt(cp.ID, 10), "campaign-saved")
		}
	}
	return u.composerError(c, cp.ID, cp, in, err)
}

// composerError shows the form again with what was typed and the engine's
// message (a template error names its line), or fails the request.
func (u *ui) composerError(c echo.Context, id int64, cp campaigns.Campaign, in campaigns.Input, err error) error {
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Internal || e.Kind == errs.NotFound {
		return err
	}
	return u.renderComposer(c, kindStatus[e.Kind], id, cp, in, "", e.Msg, e.Field)
}

type previewData struct {
	Subject, Preheader, HTML, Text, Error string
}

// previewCampaign renders the form as it is now for a sample recipient, with
// the same renderer a send uses. htmx posts here as the marketer types and
// swaps the answer in beside the editor. Template errors come back as a
// message in the preview (status 200, so htmx swaps it in).
func (u *ui) previewCampaign(c echo.Context) error {
	if u.campaigns == nil {
		return errs.NotFoundf("campaigns are not available")
	}
	in, err := u.campaignInput(c)
	var d previewData
	var as int64
	if err == nil {
		as, err = u.previewAs(c)
	}
	if err == nil {
		var r templates.Rendered
		if r, err = u.campaigns.Preview(c.Request().Context(), in, as); err == nil {
			d = previewData{Subject: r.Subject, Preheader: in.Preheader, HTML: r.HTML, Text: r.Text}
		}
	}
	if err != nil {
		e, ok := errs.As(err)
		if !ok || e.Kind == errs.Internal {
			return err
		}
		d.Error = e.Msg
	}
	return u.renderFragment(c, "campaign", "preview", d)
}

// previewAs is the subscriber the composer previews as ("preview as": their
// name and attributes fill the template); 0 for the made-up customer.
func (u *ui) previewAs(c echo.Context) (int64, error) {
	addr := strings.TrimSpace(c.FormValue("preview_as"))
	if addr == "" {
		return 0, nil
	}
	sub, found, err := subscribers.Lookup(c.Request().Context(), u.db, "preview_as", addr, nil)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, errs.Invalidf("preview_as", "%s", u.tr(c, "No subscriber has this address."))
	}
	return sub.ID, nil
}

// previewSaved renders a saved campaign that can no longer be edited.
func (u *ui) previewSaved(c echo.Context) error {
	cp, err := u.campaign(c)
	if err != nil {
		return err
	}
	r, err := u.campaigns.Preview(c.Request().Context(), inputOf(cp), 0)
	if err != nil {
		return err
	}
	return u.renderFragment(c, "campaign", "preview", previewData{Subject: r.Subject, HTML: r.HTML, Text: r.Text})
}

// audienceCount answers the composer's live audience figure.
func (u *ui) audienceCount(c echo.Context) error {
	in, err := u.campaignInput(c)
	if err != nil {
		return err
	}
	n, err := u.audience(c.Request().Context(), in.Lists, in.SegmentID)
	if err != nil && !errs.Is(err, errs.NotFound) && !errs.Is(err, errs.Invalid) {
		return err
	}
	return u.renderFragment(c, "campaign", "audience", n)
}

func (u *ui) testCampaign(c echo.Context) error {
	cp, err := u.campaign(c)
	if err != nil {
		return err
	}
	var emails []string
	for _, e := range strings.FieldsFunc(c.FormValue("emails"), func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' }) {
		if e = strings.TrimSpace(e); e != "" {
			emails = append(emails, e)
		}
	}
	if err := u.campaigns.Test(c.Request().Context(), cp.ID, emails); err != nil {
		if e, ok := errs.As(err); ok && e.Kind != errs.Internal {
			return u.renderComposer(c, kindStatus[e.Kind], cp.ID, cp, inputOf(cp), "", e.Msg, "emails")
		}
		// A refusal by the SMTP server is not a bug in Treu: show it.
		return u.renderComposer(c, http.StatusBadGateway, cp.ID, cp, inputOf(cp), "",
			u.tr(c, "The test mail could not be sent:")+" "+err.Error(), "emails")
	}
	u.srv.record(c, "campaign.test", idTarget("campaign", cp.ID), fmt.Sprintf("%d test addresses", len(emails)))
	return u.redirectDone(c, "/ui/campaigns/"+strconv.FormatInt(cp.ID, 10), "test-sent")
}

// campaignAction runs one step of a campaign's life (start, pause, resume,
// cancel). A step the status does not allow is a 409 shown on the page.
func (u *ui) campaignAction(c echo.Context) error {
	cp, err := u.campaign(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var done string
	switch c.Param("action") {
	case "start":
		cp, err = u.campaigns.Start(ctx, cp.ID)
		done = "campaign-started"
		if err == nil && cp.Status == campaigns.Scheduled {
			done = "campaign-scheduled"
		}
	case "pause":
		_, err = u.campaigns.Pause(ctx, cp.ID)
		done = "campaign-paused"
	case "resume":
		_, err = u.campaigns.Resume(ctx, cp.ID)
		done = "campaign-resumed"
	case "cancel":
		_, err = u.campaigns.Cancel(ctx, cp.ID)
		done = "campaign-cancelled"
	default:
		return errs.NotFoundf("no such action")
	}
	if err != nil {
		if e, ok := errs.As(err); ok && e.Kind != errs.Internal && e.Kind != errs.NotFound {
			return u.renderComposer(c, kindStatus[e.Kind], cp.ID, cp, inputOf(cp), "", e.Msg, "")
		}
		return err
	}
	u.srv.record(c, "campaign."+c.Param("action"), idTarget("campaign", cp.ID), "")
	return u.redirectDone(c, "/ui/campaigns/"+strconv.FormatInt(cp.ID, 10), done)
}

func (u *ui) campaign(c echo.Context) (campaigns.Campaign, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 || u.campaigns == nil {
		return campaigns.Campaign{}, errs.NotFoundf("no such campaign")
	}
	return u.campaigns.Get(c.Request().Context(), id)
}
