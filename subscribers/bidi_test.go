package subscribers

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/treu-mail/treu/internal/errs"
)

func TestBidiControlsRefused(t *testing.T) {
	for _, r := range []rune{0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c} {
		_, err := ValidateName("Kim " + string(r) + "nimdA")
		if e, ok := errs.As(err); !ok || e.Kind != errs.Invalid || e.Field != "name" || !strings.Contains(e.Msg, "bidirectional") {
			t.Errorf("U+%04X: %v", r, err)
		}
	}
	for _, ok := range []string{"Kim Müller", "محمد", "דוד כהן", "李小龍", "Zoë‍"} {
		if _, err := ValidateName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	e := newEnv(t)
	if _, err := e.svc.CreateList(e.ctx, "x", "VIP \u202egnp.exe", ""); !isInvalid(err, "name") {
		t.Errorf("list name: %v", err)
	}
	_, _, err := e.svc.Enroll(e.ctx, EnrollInput{Email: "kim@example.com", Name: "\u2067Kim"}, Meta{Channel: ChannelAPI})
	if !isInvalid(err, "name") {
		t.Errorf("enroll: %v", err)
	}
}

func isInvalid(err error, field string) bool {
	e, ok := errs.As(err)
	return ok && e.Kind == errs.Invalid && e.Field == field
}

// nested returns an attributes object whose value "a" makes the whole
// object levels deep.
func nested(levels int) json.RawMessage {
	s := `1`
	for range levels - 1 {
		s = `{"x":` + s + `}`
	}
	return json.RawMessage(`{"a":` + s + `}`)
}

func TestAttributesNestAtMostTenLevels(t *testing.T) {
	if _, err := parseAttributes(nested(10)); err != nil {
		t.Fatalf("10 levels refused: %v", err)
	}
	if _, err := parseAttributes(json.RawMessage(`{"a":[[[[[[[[[1]]]]]]]]]}`)); err != nil {
		t.Fatalf("10 levels of arrays refused: %v", err)
	}
	_, err := parseAttributes(nested(11))
	if !isInvalid(err, "attributes.a") {
		t.Fatalf("11 levels: %v", err)
	}
	if _, err := parseAttributes(json.RawMessage(`{"a":[[[[[[[[[[1]]]]]]]]]]}`)); !isInvalid(err, "attributes.a") {
		t.Fatalf("11 levels of arrays: %v", err)
	}
	e := newEnv(t)
	_, _, err = e.svc.Enroll(e.ctx, EnrollInput{Email: "kim@example.com", Attributes: nested(12)}, Meta{Channel: ChannelAPI})
	if !isInvalid(err, "attributes.a") {
		t.Fatalf("enroll with 12 levels: %v", err)
	}
}

func FuzzParseAttributes(f *testing.F) {
	f.Add(`{"a":1}`)
	f.Add(string(nested(10)))
	f.Add(`{"a":[[[[[[[[[[1]]]]]]]]]]}`)
	f.Add(`{"a":{"b":[{"c":null}]},"d":"\u202e"}`)
	f.Fuzz(func(t *testing.T, raw string) {
		m, err := parseAttributes(json.RawMessage(raw))
		if err != nil {
			if _, ok := errs.As(err); !ok {
				t.Fatalf("not an errs error: %v", err)
			}
			return
		}
		if attrDepth(map[string]any(m)) > maxAttrDepth {
			t.Fatalf("accepted %d levels: %s", attrDepth(map[string]any(m)), raw)
		}
	})
}
