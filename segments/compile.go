package segments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/retention"
)

// zeroTime compiles a rule only to validate it; no SQL built with it is run.
var zeroTime = time.Unix(0, 0).UTC()

// kind is what a field holds; it decides which ops apply.
type kind int

const (
	kindText   kind = iota // email, name
	kindEnum               // locale, status: a closed set of strings
	kindNumber             // orders.count, orders.total
	kindDate               // created_at, orders.last_at (Unix seconds)
	kindList               // list membership by slug
	kindAttr               // attributes.KEY: whatever JSON the shop sent
	kindStage              // the ladder stage, kept by package retention
)

var kindOps = map[kind][]string{
	kindText:   {"eq", "ne", "in", "contains", "starts_with"},
	kindEnum:   {"eq", "ne", "in"},
	kindNumber: {"eq", "ne", "lt", "lte", "gt", "gte", "in"},
	kindDate:   {"before", "after", "within_days"}, // + exists where the column may be NULL
	kindList:   {"eq", "ne", "in"},
	kindStage:  {"eq", "ne", "in"},
	kindAttr:   {"eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "starts_with", "exists", "before", "after", "within_days"},
}

var allOps = []string{"eq", "ne", "lt", "lte", "gt", "gte", "contains", "starts_with", "in", "exists", "within_days", "before", "after"}

type fieldSpec struct {
	kind     kind
	column   string   // qualified by the alias s
	nullable bool     // the column may be NULL, so exists applies
	lower    bool     // compare lower-cased: email is matched on email_key
	enum     []string // kindEnum: the accepted values
}

var fields = map[string]fieldSpec{
	"email":          {kind: kindText, column: "s.email_key", lower: true},
	"name":           {kind: kindText, column: "s.name"},
	"locale":         {kind: kindEnum, column: "s.locale", enum: []string{"de", "en"}},
	"status":         {kind: kindEnum, column: "s.status", enum: []string{"pending", "active", "unsubscribed"}},
	"created_at":     {kind: kindDate, column: "s.created_at"},
	"list":           {kind: kindList},
	"orders.count":   {kind: kindNumber, column: "s.order_count"},
	"orders.total":   {kind: kindNumber, column: "s.order_total"},
	"orders.last_at": {kind: kindDate, column: "s.last_order_at", nullable: true},
	"stage":          {kind: kindStage, enum: retention.Stages},
}

const attrPrefix = "attributes."

// maxAttrKey bounds an attribute key; keys are names, not data.
const maxAttrKey = 64

func lookupField(name string) (fieldSpec, bool) {
	if key, ok := strings.CutPrefix(name, attrPrefix); ok {
		return fieldSpec{kind: kindAttr}, validAttrKey(key)
	}
	f, ok := fields[name]
	return f, ok
}

// validAttrKey allows letters, digits, _ - and . (a dot is part of the key:
// attributes.a.b is the top-level key "a.b", not a path).
func validAttrKey(k string) bool {
	if k == "" || len(k) > maxAttrKey {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func (f fieldSpec) ops() []string {
	ops := kindOps[f.kind]
	if f.nullable {
		ops = append(slices.Clip(ops), "exists")
	}
	return ops
}

// SQL compiles the rule to a boolean SQL expression over `subscribers AS s`,
// with ? placeholders and their arguments; input never becomes SQL text.
// The expression is never NULL, so NOT of it is its exact complement, and it
// can be ANDed into any query that names the subscribers table s.
// now anchors within_days.
func (r Rule) SQL(now time.Time) (where string, args []any, err error) {
	return r.compile(now)
}

func (r Rule) compile(now time.Time) (string, []any, error) {
	c := compiler{now: now.UTC()}
	if err := c.rule(&r, "rule", 1); err != nil {
		return "", nil, err
	}
	return c.b.String(), c.args, nil
}

type compiler struct {
	now    time.Time
	b      strings.Builder
	args   []any
	conds  int
	values int
}

func (c *compiler) rule(r *Rule, path string, depth int) error {
	if depth > MaxDepth {
		return errs.Invalidf(path, "rule nests deeper than %d levels", MaxDepth)
	}
	isCond := r.Field != "" || r.Op != "" || r.Value != nil
	n := 0
	for _, set := range []bool{r.All != nil, r.Any != nil, r.Not != nil, isCond} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errs.Invalidf(path, "a rule needs exactly one of all, any, not, or field/op/value")
	}
	switch {
	case r.All != nil:
		return c.group(r.All, join(path, "all"), depth, " AND ", "1")
	case r.Any != nil:
		if len(r.Any) == 0 {
			return errs.Invalidf(join(path, "any"), "any needs at least one rule")
		}
		return c.group(r.Any, join(path, "any"), depth, " OR ", "0")
	case r.Not != nil:
		c.b.WriteString("NOT (")
		if err := c.rule(r.Not, join(path, "not"), depth+1); err != nil {
			return err
		}
		c.b.WriteString(")")
		return nil
	}
	return c.cond(r, path)
}

func (c *compiler) group(rules []Rule, path string, depth int, sep, empty string) error {
	if len(rules) == 0 {
		c.b.WriteString(empty)
		return nil
	}
	c.b.WriteString("(")
	for i := range rules {
		if i > 0 {
			c.b.WriteString(sep)
		}
		if err := c.rule(&rules[i], path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
			return err
		}
	}
	c.b.WriteString(")")
	return nil
}

func (c *compiler) cond(r *Rule, path string) error {
	if c.conds++; c.conds > MaxConditions {
		return errs.Invalidf(path, "rule has more than %d conditions", MaxConditions)
	}
	if r.Field == "" {
		return errs.Invalidf(join(path, "field"), "field is missing")
	}
	f, ok := lookupField(r.Field)
	if !ok {
		if strings.HasPrefix(r.Field, attrPrefix) {
			return errs.Invalidf(join(path, "field"), "bad attribute key in field %q: use 1 to %d letters, digits, _ - .", r.Field, maxAttrKey)
		}
		return errs.Invalidf(join(path, "field"), "unknown field %q", r.Field)
	}
	if r.Op == "" {
		return errs.Invalidf(join(path, "op"), "op is missing for field %q", r.Field)
	}
	if !slices.Contains(allOps, r.Op) {
		return errs.Invalidf(join(path, "op"), "unknown op %q for field %q", r.Op, r.Field)
	}
	if !slices.Contains(f.ops(), r.Op) {
		return errs.Invalidf(join(path, "op"), "op %q does not apply to field %q (use %s)", r.Op, r.Field, strings.Join(f.ops(), ", "))
	}
	vpath := join(path, "value")
	if r.Value == nil {
		return errs.Invalidf(vpath, "value is missing for %s %s", r.Field, r.Op)
	}
	v, err := decodeValue(r.Value)
	if err != nil {
		return errs.Invalidf(vpath, "value is not valid JSON")
	}
	// Wrap each condition so that it composes with AND/OR/NOT unambiguously.
	c.b.WriteString("(")
	if f.kind == kindAttr {
		err = c.attr(strings.TrimPrefix(r.Field, attrPrefix), r.Op, v, vpath)
	} else {
		err = c.column(f, r.Field, r.Op, v, vpath)
	}
	c.b.WriteString(")")
	return err
}

// column compiles a condition on a subscribers column or on list membership.
func (c *compiler) column(f fieldSpec, field, op string, v any, vpath string) error {
	switch f.kind {
	case kindList:
		// Uncorrelated, like attributes: evaluated once, and a small list can
		// drive the query through the subscriptions_list index.
		const member = `s.id IN (SELECT seg_sub.subscriber_id FROM subscriptions AS seg_sub WHERE seg_sub.status = 'active' ` +
			`AND seg_sub.list_id IN (SELECT seg_l.id FROM lists AS seg_l WHERE seg_l.slug `
		if op == "in" {
			vals, err := c.strings(v, vpath, nil)
			if err != nil {
				return err
			}
			c.b.WriteString(member)
			c.in(vals)
			c.b.WriteString("))")
			return nil
		}
		slug, ok := v.(string)
		if !ok {
			return errs.Invalidf(vpath, "list wants a list slug (string)")
		}
		if op == "ne" {
			c.b.WriteString("NOT ")
		}
		c.b.WriteString(member + "= ?))")
		c.args = append(c.args, slug)
		return nil

	case kindStage:
		// The stage table is retention's: it hands out the SQL.
		check := func(s string) error {
			if !retention.ValidStage(s) {
				return errs.Invalidf(vpath, "stage must be one of %s, not %q", strings.Join(retention.Stages, ", "), s)
			}
			return nil
		}
		var stages []string
		if op == "in" {
			vals, err := c.strings(v, vpath, check)
			if err != nil {
				return err
			}
			for _, s := range vals {
				stages = append(stages, s.(string))
			}
		} else {
			s, ok := v.(string)
			if !ok {
				return errs.Invalidf(vpath, "stage %s wants a string", op)
			}
			if err := check(s); err != nil {
				return err
			}
			stages = []string{s}
		}
		where, args := retention.StageWhere(stages)
		if op == "ne" {
			c.b.WriteString("NOT ")
		}
		c.b.WriteString("(" + where + ")")
		c.args = append(c.args, args...)
		return nil

	case kindText, kindEnum:
		norm := func(s string) string {
			if f.lower {
				return strings.ToLower(s)
			}
			return s
		}
		check := func(s string) error {
			if f.kind == kindEnum && !slices.Contains(f.enum, s) {
				return errs.Invalidf(vpath, "%s must be one of %s, not %q", field, strings.Join(f.enum, ", "), s)
			}
			return nil
		}
		if op == "in" {
			vals, err := c.strings(v, vpath, check)
			if err != nil {
				return err
			}
			for i, s := range vals {
				vals[i] = norm(s.(string))
			}
			c.b.WriteString(f.column + " ")
			c.in(vals)
			return nil
		}
		s, ok := v.(string)
		if !ok {
			return errs.Invalidf(vpath, "%s %s wants a string", field, op)
		}
		if err := check(s); err != nil {
			return err
		}
		s = norm(s)
		switch op {
		case "eq", "ne":
			c.b.WriteString(f.column + map[string]string{"eq": " = ?", "ne": " <> ?"}[op])
			c.args = append(c.args, s)
		case "contains", "starts_with":
			p, err := likePattern(op, s, vpath)
			if err != nil {
				return err
			}
			c.b.WriteString(f.column + likeSQL)
			c.args = append(c.args, p)
		}
		return nil

	case kindNumber:
		if op == "in" {
			vals, err := c.numbers(v, vpath)
			if err != nil {
				return err
			}
			c.b.WriteString(f.column + " ")
			c.in(vals)
			return nil
		}
		n, ok := v.(json.Number)
		if !ok {
			return errs.Invalidf(vpath, "%s %s wants a number", field, op)
		}
		num, err := bindNumber(n)
		if err != nil {
			return errs.Invalidf(vpath, "%v", err)
		}
		c.b.WriteString(f.column + " " + cmpOps[op] + " ?")
		c.args = append(c.args, num)
		return nil

	case kindDate:
		if op == "exists" {
			b, ok := v.(bool)
			if !ok {
				return errs.Invalidf(vpath, "exists wants true or false")
			}
			c.b.WriteString(f.column + map[bool]string{true: " IS NOT NULL", false: " IS NULL"}[b])
			return nil
		}
		expr, arg, err := c.dateBound(op, v, vpath)
		if err != nil {
			return err
		}
		// "IS NOT NULL AND" turns a NULL comparison into 0, keeping NOT exact.
		if f.nullable {
			c.b.WriteString(f.column + " IS NOT NULL AND ")
		}
		c.b.WriteString(f.column + expr)
		c.args = append(c.args, arg)
		return nil
	}
	return fmt.Errorf("segments: field %q has no compiler", field) // unreachable
}

var cmpOps = map[string]string{"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}

// attr compiles a condition on attributes.KEY as a lookup in segment_attrs
// (see migration 0005). The subquery does not refer to s, so SQLite evaluates
// it once and can drive the query from segment_attrs_lookup.
//
// Types are strict: a JSON string value matches attributes stored as strings,
// a number matches numbers (integer or real, compared numerically), a boolean
// matches booleans. So attribute "42" (string) does not equal 42 (number);
// mixing would make lt/gt depend on SQLite's cross-type ordering, and the
// shop, which sends the attributes, can send them with the type it means.
func (c *compiler) attr(key, op string, v any, vpath string) error {
	neg, pred, args, err := c.attrPred(op, v, vpath)
	if err != nil {
		return err
	}
	// subscriber_id is never NULL, so NOT IN is the exact complement of IN.
	if neg {
		c.b.WriteString("s.id NOT IN")
	} else {
		c.b.WriteString("s.id IN")
	}
	c.b.WriteString(" (SELECT seg_a.subscriber_id FROM segment_attrs AS seg_a WHERE seg_a.key = ?" + pred + ")")
	c.args = append(c.args, key)
	c.args = append(c.args, args...)
	return nil
}

// attrPred returns the predicate on seg_a for op and v, and whether the
// membership test is negated.
func (c *compiler) attrPred(op string, v any, vpath string) (neg bool, pred string, args []any, err error) {
	const (
		isText   = " AND seg_a.kind = 'text'"
		isNumber = " AND seg_a.kind IN ('integer', 'real')"
	)
	switch op {
	case "exists":
		// A row exists only for a non-null value.
		b, ok := v.(bool)
		if !ok {
			return false, "", nil, errs.Invalidf(vpath, "exists wants true or false")
		}
		return !b, "", nil, nil

	case "eq", "ne", "lt", "lte", "gt", "gte":
		// ne is exactly NOT eq, so it also matches subscribers without the attribute.
		neg, cmp := op == "ne", cmpOps[op]
		if neg {
			cmp = "="
		}
		switch x := v.(type) {
		case string:
			// Strings order as text (useful for ISO dates and codes).
			return neg, isText + " AND seg_a.value " + cmp + " ?", []any{x}, nil
		case json.Number:
			num, err := bindNumber(x)
			if err != nil {
				return false, "", nil, errs.Invalidf(vpath, "%v", err)
			}
			return neg, isNumber + " AND seg_a.value " + cmp + " ?", []any{num}, nil
		case bool:
			if cmp == "=" {
				return neg, map[bool]string{true: " AND seg_a.kind = 'true'", false: " AND seg_a.kind = 'false'"}[x], nil, nil
			}
		}
		if cmp == "=" {
			return false, "", nil, errs.Invalidf(vpath, "%s wants a string, number or boolean", op)
		}
		return false, "", nil, errs.Invalidf(vpath, "%s wants a number or a string", op)

	case "in":
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return false, "", nil, errs.Invalidf(vpath, "in wants a non-empty array")
		}
		var (
			vals []any
			err  error
			typ  = isText
		)
		if _, isNum := list[0].(json.Number); isNum {
			vals, err = c.numbers(v, vpath)
			typ = isNumber
		} else {
			vals, err = c.strings(v, vpath, nil)
		}
		if err != nil {
			return false, "", nil, err
		}
		return false, typ + " AND seg_a.value " + placeholders(len(vals)), vals, nil

	case "contains", "starts_with":
		s, ok := v.(string)
		if !ok {
			return false, "", nil, errs.Invalidf(vpath, "%s wants a string", op)
		}
		p, err := likePattern(op, s, vpath)
		if err != nil {
			return false, "", nil, err
		}
		return false, isText + " AND seg_a.value" + likeSQL, []any{p}, nil

	case "before", "after", "within_days":
		// Date attributes are strings SQLite can read: YYYY-MM-DD or
		// RFC 3339 (with Z or an offset); others never match.
		expr, arg, err := c.dateBound(op, v, vpath)
		if err != nil {
			return false, "", nil, err
		}
		return false, isText + " AND unixepoch(seg_a.value)" + expr, []any{arg}, nil
	}
	return false, "", nil, fmt.Errorf("segments: op %q has no compiler", op) // unreachable
}

// likeSQL matches a pattern from likePattern. SQLite's LIKE folds ASCII case,
// so contains/starts_with are case-insensitive for ASCII letters.
const likeSQL = ` LIKE ? ESCAPE '\'`

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// likePattern escapes % _ and \ in s, so the marketer's text matches literally.
func likePattern(op, s, vpath string) (string, error) {
	if s == "" {
		return "", errs.Invalidf(vpath, "%s wants a non-empty string", op)
	}
	p := likeEscaper.Replace(s)
	if op == "contains" {
		return "%" + p + "%", nil
	}
	return p + "%", nil
}

// dateBound returns " < ?"-style SQL and its Unix-seconds argument.
// Dates are RFC 3339 or YYYY-MM-DD (a UTC day): "before D" is before that day
// starts, "after D" is after it ends. within_days N is the last N*24 hours
// before now, including anything later than now (clock skew of the shop).
func (c *compiler) dateBound(op string, v any, vpath string) (string, int64, error) {
	if op == "within_days" {
		n, ok := v.(json.Number)
		days, err := n.Int64()
		if !ok || err != nil || days < 1 || days > 36500 {
			return "", 0, errs.Invalidf(vpath, "within_days wants a whole number of days from 1 to 36500")
		}
		return " >= ?", c.now.Unix() - days*86400, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", 0, errs.Invalidf(vpath, "%s wants a date (YYYY-MM-DD or RFC 3339)", op)
	}
	if day, err := time.Parse(time.DateOnly, s); err == nil {
		if op == "before" {
			return " < ?", day.Unix(), nil
		}
		return " >= ?", day.AddDate(0, 0, 1).Unix(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", 0, errs.Invalidf(vpath, "%s wants a date (YYYY-MM-DD or RFC 3339), not %q", op, s)
	}
	// Stored times are whole seconds: t < 10.5 is t < 11, t > 10.5 is t > 10.
	sec := t.Unix()
	if op == "before" {
		if t.Nanosecond() > 0 {
			sec++
		}
		return " < ?", sec, nil
	}
	return " > ?", sec, nil
}

// in writes "IN (?, ?, ...)" for vals.
func (c *compiler) in(vals []any) {
	c.b.WriteString(placeholders(len(vals)))
	c.args = append(c.args, vals...)
}

func placeholders(n int) string {
	return "IN (?" + strings.Repeat(", ?", n-1) + ")"
}

func (c *compiler) countValues(n int, vpath string) error {
	if c.values += n; c.values > MaxValues {
		return errs.Invalidf(vpath, "rule has more than %d values in its in arrays", MaxValues)
	}
	return nil
}

// strings reads a non-empty array of strings, each passing check if given.
func (c *compiler) strings(v any, vpath string, check func(string) error) ([]any, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, errs.Invalidf(vpath, "in wants a non-empty array of strings")
	}
	if err := c.countValues(len(list), vpath); err != nil {
		return nil, err
	}
	out := make([]any, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, errs.Invalidf(vpath+"["+strconv.Itoa(i)+"]", "in wants an array of strings")
		}
		if check != nil {
			if err := check(s); err != nil {
				return nil, err
			}
		}
		out[i] = s
	}
	return out, nil
}

// numbers reads a non-empty array of numbers.
func (c *compiler) numbers(v any, vpath string) ([]any, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, errs.Invalidf(vpath, "in wants a non-empty array of numbers")
	}
	if err := c.countValues(len(list), vpath); err != nil {
		return nil, err
	}
	out := make([]any, len(list))
	for i, x := range list {
		n, ok := x.(json.Number)
		if !ok {
			return nil, errs.Invalidf(vpath+"["+strconv.Itoa(i)+"]", "in wants an array of numbers")
		}
		num, err := bindNumber(n)
		if err != nil {
			return nil, errs.Invalidf(vpath+"["+strconv.Itoa(i)+"]", "%v", err)
		}
		out[i] = num
	}
	return out, nil
}

// bindNumber keeps integers exact (int64) and binds the rest as float64;
// SQLite compares the two numerically.
func bindNumber(n json.Number) (any, error) {
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("number %s is out of range", n)
	}
	return f, nil
}

// decodeValue reads one JSON value, keeping numbers as json.Number.
func decodeValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	return v, nil
}
