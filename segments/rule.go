package segments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/treu-mail/treu/internal/errs"
)

// Limits that keep a hostile or careless rule from producing a huge query.
const (
	MaxDepth      = 10   // nesting levels; a condition alone is depth 1
	MaxConditions = 100  // conditions (leaves) in one rule
	MaxValues     = 1000 // values in all "in" arrays of one rule together
)

// Rule is a segment rule: exactly one of All, Any, Not or a condition
// (Field, Op, Value). All with no members matches everyone.
//
// A Rule built in Go is checked when compiled, exactly as Parse checks JSON.
type Rule struct {
	All   []Rule
	Any   []Rule
	Not   *Rule
	Field string
	Op    string
	Value json.RawMessage // JSON; its type must suit Field and Op
}

// Parse reads a rule in API.md's JSON form and validates it. Bad JSON is
// errs.Malformed; a well-formed rule that cannot be used is errs.Invalid with
// Field naming the place, e.g. "rule.all[2].op".
func Parse(raw []byte) (Rule, error) {
	var probe json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return Rule{}, errs.Malformedf("rule", "rule is not valid JSON: %v", err)
	}
	d := decoder{}
	r, err := d.decode(probe, "rule", 1)
	if err != nil {
		return Rule{}, err
	}
	// The compiler holds the semantic checks, so Parse and SQL can never disagree.
	if _, _, err := r.compile(zeroTime); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// UnmarshalJSON parses like Parse, so a request struct can hold a Rule.
func (r *Rule) UnmarshalJSON(raw []byte) error {
	p, err := Parse(raw)
	if err != nil {
		return err
	}
	*r = p
	return nil
}

// MarshalJSON writes the API form, so a stored rule reads back as it was sent.
func (r Rule) MarshalJSON() ([]byte, error) {
	switch {
	case r.All != nil:
		return json.Marshal(map[string][]Rule{"all": r.All})
	case r.Any != nil:
		return json.Marshal(map[string][]Rule{"any": r.Any})
	case r.Not != nil:
		return json.Marshal(map[string]*Rule{"not": r.Not})
	case r.Field == "" && r.Op == "" && r.Value == nil:
		// The zero Rule; invalid, but writing it must not fail.
		return []byte(`{}`), nil
	}
	c := struct {
		Field string          `json:"field"`
		Op    string          `json:"op"`
		Value json.RawMessage `json:"value,omitempty"`
	}{r.Field, r.Op, r.Value}
	if c.Value != nil && !json.Valid(c.Value) {
		return nil, fmt.Errorf("segments: rule value %q is not JSON", c.Value)
	}
	return json.Marshal(c)
}

// decoder turns JSON into the Rule's shape; it checks structure and limits,
// the compiler checks meaning.
type decoder struct{ nodes int }

var ruleKeys = []string{"all", "any", "not", "field", "op", "value"}

func (d *decoder) decode(raw json.RawMessage, path string, depth int) (Rule, error) {
	if depth > MaxDepth {
		return Rule{}, errs.Invalidf(path, "rule nests deeper than %d levels", MaxDepth)
	}
	// Counting nodes here stops a huge array before the compiler sees it.
	if d.nodes++; d.nodes > 2*MaxConditions {
		return Rule{}, errs.Invalidf(path, "rule has more than %d conditions", MaxConditions)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return Rule{}, errs.Invalidf(path, "a rule must be a JSON object")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable error when several keys are wrong
	for _, k := range keys {
		if !slices.Contains(ruleKeys, k) {
			return Rule{}, errs.Invalidf(join(path, k), "unknown key %q in rule (want all, any, not, or field, op, value)", k)
		}
	}
	var r Rule
	if v, ok := m["all"]; ok {
		list, err := d.list(v, join(path, "all"), depth)
		if err != nil {
			return Rule{}, err
		}
		r.All = list
	}
	if v, ok := m["any"]; ok {
		list, err := d.list(v, join(path, "any"), depth)
		if err != nil {
			return Rule{}, err
		}
		r.Any = list
	}
	if v, ok := m["not"]; ok {
		sub, err := d.decode(v, join(path, "not"), depth+1)
		if err != nil {
			return Rule{}, err
		}
		r.Not = &sub
	}
	for _, k := range []string{"field", "op"} {
		v, ok := m[k]
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return Rule{}, errs.Invalidf(join(path, k), "%s must be a string", k)
		}
		if k == "field" {
			r.Field = s
		} else {
			r.Op = s
		}
	}
	if v, ok := m["value"]; ok {
		// Compact: the stored rule should not keep the sender's whitespace.
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return Rule{}, errs.Invalidf(join(path, "value"), "value is not valid JSON")
		}
		r.Value = buf.Bytes()
	}
	return r, nil
}

func (d *decoder) list(raw json.RawMessage, path string, depth int) ([]Rule, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return nil, errs.Invalidf(path, "must be an array of rules")
	}
	out := make([]Rule, 0, len(items))
	for i, item := range items {
		sub, err := d.decode(item, path+"["+strconv.Itoa(i)+"]", depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, sub)
	}
	return out, nil
}

func join(path, key string) string { return path + "." + key }
