package flows

// The typed steps of a flow and their checks at save time. Running them is
// in engine.go (advance, runStep; the mail in send).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
)

// Step types.
const (
	StepSend      = "send"      // a mail (also a step without type)
	StepWait      = "wait"      // only waits: Delay and/or Until
	StepCondition = "condition" // Rule or SegmentID: on to the next step, or to No
	StepCoupon    = "coupon"    // assigns a code of CouponPool; later mails print it as {{ .Coupon }}
	StepList      = "list"      // Action add (private lists) or remove, List
	StepAttribute = "attribute" // Action set (Key, Value) or remove (Key)
	StepWebhook   = "webhook"   // queues a flow.webhook event to the shop's webhook endpoints
)

var stepTypes = []string{StepSend, StepWait, StepCondition, StepCoupon, StepList, StepAttribute, StepWebhook}

// kind is the step's type; a step without one is a mail.
func (s *Step) kind() string {
	if s.Type == "" {
		return StepSend
	}
	return s.Type
}

// Until waits on to the next Weekday (empty: any day) at Time ("09:00") in
// the shop's zone, after the step's Delay.
type Until struct {
	Weekday string `json:"weekday,omitempty"` // mon ... sun
	Time    string `json:"time"`              // HH:MM, 24 hours
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

func (u *Until) clock() (h, m int, err error) {
	hs, ms, ok := strings.Cut(u.Time, ":")
	if !ok || len(hs) != 2 || len(ms) != 2 {
		return 0, 0, fmt.Errorf("bad time")
	}
	if h, err = strconv.Atoi(hs); err != nil || h < 0 || h > 23 {
		return 0, 0, fmt.Errorf("bad time")
	}
	if m, err = strconv.Atoi(ms); err != nil || m < 0 || m > 59 {
		return 0, 0, fmt.Errorf("bad time")
	}
	return h, m, nil
}

func (u *Until) check(field string) error {
	if u == nil {
		return nil
	}
	if _, _, err := u.clock(); err != nil {
		return errs.Invalidf(field+".time", "%s.time is a time of day such as \"09:00\"", field)
	}
	if _, ok := weekdays[u.Weekday]; u.Weekday != "" && !ok {
		return errs.Invalidf(field+".weekday", "%s.weekday is one of mon, tue, wed, thu, fri, sat, sun", field)
	}
	return nil
}

// next is the first time at or after t that is the Weekday at Time in loc;
// the wall-clock time is kept across a change to or from summer time.
func (u *Until) next(t time.Time, loc *time.Location) time.Time {
	h, m, _ := u.clock()
	lt := t.In(loc)
	for i := 0; i <= 8; i++ {
		d := lt.AddDate(0, 0, i)
		c := time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, loc)
		if c.Before(t) {
			continue
		}
		if wd, ok := weekdays[u.Weekday]; ok && c.Weekday() != wd {
			continue
		}
		return c.UTC()
	}
	return t
}

// Jump is where a condition's "no" goes: a later step's index, or 0 for the
// end of the flow (JSON: a number or "end").
type Jump int

// MarshalJSON writes "end" or the step.
func (j Jump) MarshalJSON() ([]byte, error) {
	if j == 0 {
		return []byte(`"end"`), nil
	}
	return []byte(strconv.Itoa(int(j))), nil
}

// UnmarshalJSON reads a step index or "end".
func (j *Jump) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == `"end"` || string(b) == "null" {
		*j = 0
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 1 {
		return errs.Invalidf("no", `no is a later step's index or "end"`)
	}
	*j = Jump(n)
	return nil
}

// due is when a step is due when the run arrives at it at t.
func (e *Engine) due(st *Step, t time.Time) time.Time {
	d := t.Add(time.Duration(st.Delay))
	if st.Until != nil {
		d = st.Until.next(d, e.cfg.Location)
	}
	return d
}

// checkStep checks one step of f for its type.
func (e *Engine) checkStep(ctx context.Context, f *Flow, i int, p string, st *Step) error {
	switch st.kind() {
	case StepSend:
		if err := e.checkMail(ctx, p, st); err != nil {
			return err
		}
		if st.CouponPool != "" {
			return e.checkPool(ctx, p, st.CouponPool)
		}
		if usesCoupon(e, *st) && !couponBefore(f, i) {
			// It would go out with an empty code.
			return errs.Invalidf(p+".coupon_pool", "%s uses {{ .Coupon }}: choose the coupon pool its codes come from", p)
		}
		return nil
	case StepWait:
		if st.Delay == 0 && st.Until == nil {
			return errs.Invalidf(p+".delay", "%s waits: give a delay or until", p)
		}
	case StepCondition:
		switch {
		case st.Rule != nil && st.SegmentID != nil:
			return errs.Invalidf(p+".rule", "%s: a rule or a segment_id, not both", p)
		case st.Rule != nil:
			if _, _, err := st.Rule.SQL(time.Unix(0, 0)); err != nil {
				if ee, ok := errs.As(err); ok {
					return errs.Invalidf(p+".rule", "%s.rule: %s", p, ee.Msg)
				}
				return errs.Invalidf(p+".rule", "%s.rule: %v", p, err)
			}
		case st.SegmentID != nil:
			if err := e.segmentExists(ctx, p+".segment_id", *st.SegmentID); err != nil {
				return err
			}
		default:
			return errs.Invalidf(p+".rule", "%s is a condition: give a rule or a segment_id", p)
		}
		if st.No != 0 && (int(st.No) <= i || int(st.No) >= len(f.Steps)) {
			return errs.Invalidf(p+".no", "%s.no is a later step (%d to %d) or \"end\"", p, i+1, len(f.Steps)-1)
		}
	case StepCoupon:
		if st.CouponPool == "" {
			return errs.Invalidf(p+".coupon_pool", "%s.coupon_pool is required", p)
		}
		return e.checkPool(ctx, p, st.CouponPool)
	case StepList:
		if st.Action != "add" && st.Action != "remove" {
			return errs.Invalidf(p+".action", "%s.action is add or remove", p)
		}
		found, public, err := subscribers.ListInfo(ctx, e.db, st.List)
		if err != nil {
			return err
		}
		if !found {
			return errs.Invalidf(p+".list", "list %q does not exist", st.List)
		}
		if public && st.Action == "add" {
			return errs.Invalidf(p+".list", "list %q is public: people join it themselves; a flow adds to private lists only", st.List)
		}
	case StepAttribute:
		switch st.Action {
		case "set":
			if len(bytes.TrimSpace(st.Value)) == 0 || string(bytes.TrimSpace(st.Value)) == "null" {
				return errs.Invalidf(p+".value", "%s.value is required", p)
			}
		case "remove":
			st.Value = nil
		default:
			return errs.Invalidf(p+".action", "%s.action is set or remove", p)
		}
		if err := subscribers.CheckAttribute(st.Key, st.Value); err != nil {
			ee, _ := errs.As(err)
			return errs.Invalidf(p+"."+ee.Field, "%s.%s: %s", p, ee.Field, ee.Msg)
		}
	case StepWebhook:
		if e.cfg.Emit == nil {
			return errs.Invalidf(p+".type", "webhooks are not available")
		}
	default:
		return errs.Invalidf(p+".type", "%s.type is one of %s", p, strings.Join(stepTypes, ", "))
	}
	if st.kind() != StepSend && (st.Subject != "" || st.Markdown != "" || len(st.Locales) > 0) {
		return errs.Invalidf(p+".subject", "%s is a %s step: it sends no mail", p, st.kind())
	}
	return nil
}

// couponBefore says whether a coupon step comes before step i.
func couponBefore(f *Flow, i int) bool {
	for j := range i {
		if f.Steps[j].kind() == StepCoupon {
			return true
		}
	}
	return false
}

// WebhookEvent is the webhooks event type a webhook step queues.
const WebhookEvent = "flow.webhook"

// webhookData is what a webhook step sends.
func webhookData(slug string, step int, rc *recipientView, event json.RawMessage) map[string]any {
	m := map[string]any{"flow": slug, "step": step, "subscriber_id": rc.id, "email": rc.email}
	if len(event) > 0 {
		m["event"] = event
	}
	return m
}

type recipientView struct {
	id    int64
	email string
}
