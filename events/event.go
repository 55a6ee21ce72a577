package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
)

// Event types the shop sends.
const (
	CartUpdated = "cart.updated"
	CartCleared = "cart.cleared"
	OrderPlaced = "order.placed"
	// OrderRefunded takes back what an order earned (package loyalty's
	// points): {"order": {"id", "total"?}}, total being the amount refunded
	// (absent or 0: the whole order).
	OrderRefunded = "order.refunded"
)

// Limits on one event. A shop cart with more than MaxItems lines is not a cart
// we want to render in a mail; the body limit keeps one request from pinning
// the writer.
const (
	MaxBody  = 64 << 10 // bytes of one event's JSON
	MaxItems = 500
	maxID    = 200
	maxText  = 500
	maxURL   = 2048
	maxMoney = 1e9
	maxQty   = 1_000_000
)

// Event is one shop event as POST /api/events takes it.
type Event struct {
	Type  string `json:"type"`
	Email string `json:"email"`
	// ID makes the event idempotent; Ingest makes one up when it is empty.
	ID string `json:"id,omitempty"`
	// OccurredAt is when it happened in the shop; zero means when it arrived.
	// JSON: RFC 3339 or Unix seconds.
	OccurredAt Time   `json:"occurred_at,omitzero"`
	Cart       *Cart  `json:"cart,omitempty"`
	Order      *Order `json:"order,omitempty"`
	// Data is a custom event's own fields (a JSON object), e.g. the
	// tracking URL of an order.shipped; flows print them in mails as
	// {{ .Event.data.tracking_url }}.
	Data json.RawMessage `json:"data,omitempty"`
}

// MaxType is the longest event type.
const MaxType = 64

// ValidType reports whether t is an event type: lower-case words of letters,
// digits and _ joined by dots ("order.shipped", "review.requested").
func ValidType(t string) bool {
	if t == "" || len(t) > MaxType || t[0] < 'a' || t[0] > 'z' {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_':
		case c == '.' && i+1 < len(t) && t[i+1] != '.' && t[i-1] != '.':
		default:
			return false
		}
	}
	return true
}

// Cart is a cart.updated or cart.cleared payload.
type Cart struct {
	ID       string  `json:"id"`
	URL      string  `json:"url,omitempty"`
	Currency string  `json:"currency,omitempty"`
	Total    float64 `json:"total"`
	Items    []Item  `json:"items,omitempty"`
}

// Order is an order.placed payload.
type Order struct {
	ID       string  `json:"id"`
	CartID   string  `json:"cart_id,omitempty"`
	Currency string  `json:"currency"`
	Total    float64 `json:"total"`
	Items    []Item  `json:"items,omitempty"`
	// Attribution names the campaign the shop credits the order to (from
	// the utm parameters of the landing page); it wins over Treu's own guess.
	Attribution *Attribution `json:"attribution,omitempty"`
}

// Attribution is an order's "attribution" object.
type Attribution struct {
	CampaignID int64 `json:"campaign_id"`
}

// Item is one line of a cart or an order.
type Item struct {
	SKU      string  `json:"sku"`
	Name     string  `json:"name"`
	Price    float64 `json:"price"`
	Quantity int     `json:"quantity"`
	URL      string  `json:"url,omitempty"`
	ImageURL string  `json:"image_url,omitempty"`
}

// Time is a time that JSON may give as RFC 3339 text or as Unix seconds.
type Time struct{ time.Time }

// UnmarshalJSON accepts "2026-01-02T15:04:05Z", 1767366245 and null.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		t.Time = time.Time{}
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return errs.Invalidf("occurred_at", "occurred_at must be RFC 3339 time or Unix seconds")
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return errs.Invalidf("occurred_at", "occurred_at must be RFC 3339 time or Unix seconds")
		}
		t.Time = v.UTC()
		return nil
	default:
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return errs.Invalidf("occurred_at", "occurred_at must be RFC 3339 time or Unix seconds")
		}
		t.Time = time.Unix(n, 0).UTC()
		return nil
	}
}

// MarshalJSON writes RFC 3339.
func (t Time) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.Time.UTC().Format(time.RFC3339))
}

// Parse decodes and validates one event. It never panics; a bad event is an
// *errs.Error naming the field (e.g. "cart.items[2].price").
func Parse(raw []byte) (Event, error) {
	if len(raw) > MaxBody {
		return Event{}, &errs.Error{Kind: errs.TooLarge, Msg: fmt.Sprintf("event larger than %d bytes", MaxBody)}
	}
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&ev); err != nil {
		return Event{}, decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Event{}, errs.Malformedf("", "body must hold exactly one JSON value")
	}
	if err := ev.Validate(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var ie *errs.Error
	switch {
	case errors.As(err, &ie):
		return ie
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errs.Malformedf("", "an event must be a JSON object")
		}
		return errs.Invalidf(typ.Field, "%s has the wrong type (%s)", typ.Field, typ.Value)
	case errors.As(err, &syn):
		return errs.Malformedf("", "malformed JSON at byte %d", syn.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Malformedf("", "malformed JSON: unexpected end")
	}
	return errs.Malformedf("", "malformed JSON: %v", err)
}

// Validate checks the event (trimming the address in place) and names the
// first field at fault.
func (ev *Event) Validate() error {
	ev.Email = strings.TrimSpace(ev.Email)
	if _, err := EmailKey(ev.Email); err != nil {
		return err
	}
	if ev.ID != "" {
		if err := checkID("id", ev.ID); err != nil {
			return err
		}
	}
	if d := bytes.TrimSpace(ev.Data); len(d) > 0 && string(d) != "null" && d[0] != '{' {
		return errs.Invalidf("data", "data must be a JSON object")
	}
	switch ev.Type {
	case CartUpdated:
		if ev.Cart == nil {
			return errs.Invalidf("cart", "cart is required for %s", ev.Type)
		}
		return ev.Cart.validate(true)
	case CartCleared:
		if ev.Cart == nil {
			return errs.Invalidf("cart", "cart is required for %s", ev.Type)
		}
		return ev.Cart.validate(false)
	case OrderPlaced:
		if ev.Order == nil {
			return errs.Invalidf("order", "order is required for %s", ev.Type)
		}
		return ev.Order.validate()
	case OrderRefunded:
		if ev.Order == nil {
			return errs.Invalidf("order", "order is required for %s", ev.Type)
		}
		if err := checkID("order.id", ev.Order.ID); err != nil {
			return err
		}
		return checkMoney("order.total", ev.Order.Total)
	case "":
		return errs.Invalidf("type", "type is required")
	default:
		// A custom event: stored and handed to the flows; its fields are in data.
		if !ValidType(ev.Type) {
			return errs.Invalidf("type", "type must be cart.updated, cart.cleared, order.placed, order.refunded or a custom type of lower-case words joined by dots (order.shipped), at most %d bytes", MaxType)
		}
		if ev.Cart != nil {
			return errs.Invalidf("cart", "cart belongs to cart.updated and cart.cleared; a custom event carries its fields in data")
		}
		if ev.Order != nil {
			return errs.Invalidf("order", "order belongs to order.placed; a custom event carries its fields in data")
		}
		return nil
	}
}

// EmailKey validates an address and returns its key: the address as the
// subscribers package normalises it (IDN domain in ASCII), lower-cased, which
// is exactly subscribers.email_key.
func EmailKey(email string) (string, error) {
	addr, err := subscribers.ValidateEmail(email)
	if err != nil {
		return "", err
	}
	return strings.ToLower(addr), nil
}

func (c *Cart) validate(full bool) error {
	if err := checkID("cart.id", c.ID); err != nil {
		return err
	}
	if !full {
		return nil
	}
	if err := checkURL("cart.url", c.URL); err != nil {
		return err
	}
	if err := checkCurrency("cart.currency", c.Currency); err != nil {
		return err
	}
	if err := checkMoney("cart.total", c.Total); err != nil {
		return err
	}
	return checkItems("cart.items", c.Items)
}

func (o *Order) validate() error {
	if err := checkID("order.id", o.ID); err != nil {
		return err
	}
	if o.CartID != "" {
		if err := checkID("order.cart_id", o.CartID); err != nil {
			return err
		}
	}
	if err := checkCurrency("order.currency", o.Currency); err != nil {
		return err
	}
	if err := checkMoney("order.total", o.Total); err != nil {
		return err
	}
	if o.Attribution != nil && o.Attribution.CampaignID <= 0 {
		return errs.Invalidf("order.attribution.campaign_id", "order.attribution.campaign_id must be a campaign id")
	}
	return checkItems("order.items", o.Items)
}

func checkItems(field string, items []Item) error {
	if len(items) > MaxItems {
		return errs.Invalidf(field, "%s may hold at most %d items", field, MaxItems)
	}
	for i := range items {
		it := &items[i]
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := checkText(f+".sku", it.SKU, false); err != nil {
			return err
		}
		if err := checkText(f+".name", it.Name, true); err != nil {
			return err
		}
		if err := checkMoney(f+".price", it.Price); err != nil {
			return err
		}
		if it.Quantity < 1 || it.Quantity > maxQty {
			return errs.Invalidf(f+".quantity", "%s.quantity must be between 1 and %d", f, maxQty)
		}
		if err := checkURL(f+".url", it.URL); err != nil {
			return err
		}
		if err := checkURL(f+".image_url", it.ImageURL); err != nil {
			return err
		}
	}
	return nil
}

func checkID(field, s string) error {
	if s == "" {
		return errs.Invalidf(field, "%s is required", field)
	}
	if len(s) > maxID {
		return errs.Invalidf(field, "%s may be at most %d bytes", field, maxID)
	}
	for _, r := range s {
		if r < 0x21 || r == 0x7f || r == utf8.RuneError {
			return errs.Invalidf(field, "%s must be printable characters without spaces", field)
		}
	}
	return nil
}

func checkText(field, s string, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return errs.Invalidf(field, "%s is required", field)
	}
	if len(s) > maxText {
		return errs.Invalidf(field, "%s may be at most %d bytes", field, maxText)
	}
	if !utf8.ValidString(s) {
		return errs.Invalidf(field, "%s must be UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errs.Invalidf(field, "%s must not contain control characters", field)
		}
	}
	return nil
}

func checkURL(field, s string) error {
	if s == "" {
		return nil
	}
	if len(s) > maxURL {
		return errs.Invalidf(field, "%s may be at most %d bytes", field, maxURL)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errs.Invalidf(field, "%s must be an http or https URL", field)
	}
	return nil
}

// checkCurrency wants the shape of an ISO 4217 code: three upper-case letters.
func checkCurrency(field, s string) error {
	if len(s) != 3 || !isUpper(s[0]) || !isUpper(s[1]) || !isUpper(s[2]) {
		return errs.Invalidf(field, "%s must be an ISO 4217 code such as EUR", field)
	}
	return nil
}

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

func checkMoney(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > maxMoney {
		return errs.Invalidf(field, "%s must be a number between 0 and %g", field, float64(maxMoney))
	}
	return nil
}
