package flows

// What starts a flow. Each trigger has its own file: trigger_confirmed.go,
// trigger_event.go, trigger_stage.go, trigger_date.go, trigger_segment.go,
// cart.go (cart abandoned) and offers.go (a schedule). A person is in a flow
// at most once per trigger key (the UNIQUE index of flow_runs); entry.go adds
// the flow's settings (once per person ever, cool-down).

import (
	"context"
	"database/sql"
	"regexp"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/retention"
)

// Trigger is what starts a flow; exactly one field is set.
type Trigger struct {
	Confirmed     bool   `json:"confirmed,omitempty"`      // the subscriber confirmed (became active)
	Event         string `json:"event,omitempty"`          // a shop event of this type (POST /api/events)
	Stage         string `json:"stage,omitempty"`          // the ladder stage entered
	DateAttribute string `json:"date_attribute,omitempty"` // an attribute "MM-DD" or "YYYY-MM-DD": once a year on that day
	SegmentID     *int64 `json:"segment_id,omitempty"`     // entered the saved segment
	CartAbandoned bool   `json:"cart_abandoned,omitempty"` // the built-in cart flow
	Schedule      bool   `json:"schedule,omitempty"`       // the built-in offers flow: Flow.Cron and Flow.SegmentID
}

// Trigger kinds as stored in flows.trigger_kind.
const (
	kindConfirmed = "confirmed"
	kindEvent     = "event"
	kindStage     = "stage"
	kindDate      = "date"
	kindSegment   = "segment"
	kindCart      = "cart"
	kindSchedule  = "schedule"
)

// kind is the stored kind; "" when no field or more than one is set.
func (t Trigger) kind() string {
	var kinds []string
	if t.Confirmed {
		kinds = append(kinds, kindConfirmed)
	}
	if t.Event != "" {
		kinds = append(kinds, kindEvent)
	}
	if t.Stage != "" {
		kinds = append(kinds, kindStage)
	}
	if t.DateAttribute != "" {
		kinds = append(kinds, kindDate)
	}
	if t.SegmentID != nil {
		kinds = append(kinds, kindSegment)
	}
	if t.CartAbandoned {
		kinds = append(kinds, kindCart)
	}
	if t.Schedule {
		kinds = append(kinds, kindSchedule)
	}
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

// columns is the trigger as flows stores it.
func (t Trigger) columns() (kind, arg string, segment any) {
	kind = t.kind()
	switch kind {
	case kindEvent:
		arg = t.Event
	case kindStage:
		arg = t.Stage
	case kindDate:
		arg = t.DateAttribute
	case kindSegment:
		segment = *t.SegmentID
	}
	return kind, arg, segment
}

// same reports whether t and o are the same trigger.
func (t Trigger) same(o Trigger) bool {
	k1, a1, s1 := t.columns()
	k2, a2, s2 := o.columns()
	return k1 == k2 && a1 == a2 && s1 == s2
}

// triggerOf reads the stored columns back.
func triggerOf(kind, arg string, seg sql.NullInt64) Trigger {
	switch kind {
	case kindConfirmed:
		return Trigger{Confirmed: true}
	case kindEvent:
		return Trigger{Event: arg}
	case kindStage:
		return Trigger{Stage: arg}
	case kindDate:
		return Trigger{DateAttribute: arg}
	case kindSegment:
		id := seg.Int64
		return Trigger{SegmentID: &id}
	case kindCart:
		return Trigger{CartAbandoned: true}
	}
	return Trigger{Schedule: true}
}

// eventTypeRE is what POST /api/events accepts as a type (events.ValidType).
var eventTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$`)

// attrKeyRE is an attribute key as segments reads it.
var attrKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (e *Engine) checkTrigger(ctx context.Context, f *Flow) error {
	t := f.Trigger
	switch t.kind() {
	case "":
		return errs.Invalidf("trigger", "trigger needs exactly one of event, stage, date_attribute, segment_id, confirmed")
	case kindEvent:
		if len(t.Event) > 64 || !eventTypeRE.MatchString(t.Event) {
			return errs.Invalidf("trigger.event", "trigger.event is an event type such as order.shipped")
		}
	case kindStage:
		if !retention.ValidStage(t.Stage) {
			return errs.Invalidf("trigger.stage", "trigger.stage must be one of %v", retention.Stages)
		}
	case kindDate:
		if !attrKeyRE.MatchString(t.DateAttribute) {
			return errs.Invalidf("trigger.date_attribute", "trigger.date_attribute is an attribute key such as birthday")
		}
	case kindSegment:
		return e.segmentExists(ctx, "trigger.segment_id", *t.SegmentID)
	}
	return nil
}
