package templates

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// funcs are the functions a mail's Markdown, subject and layout may call.
// They must stay free of per-recipient state: templates are parsed once per
// campaign and executed concurrently.
func funcs() map[string]any {
	return map[string]any{
		"default": dflt,
		"upper":   func(v any) string { return strings.ToUpper(str(v)) },
		"lower":   func(v any) string { return strings.ToLower(str(v)) },
		// content marks where a layout takes the mail's body; Compile splices
		// the body in before parsing, so this only runs if a layout is
		// validated on its own.
		"content": func() string { return "" },
		// footer marks where a layout places the Impressum and the
		// unsubscribe links; Compile splices them in (footer.go).
		"footer": func() string { return "" },
		// nonil is appended to every output action of a text template: Go
		// prints a missing map value as "<no value>", a mail must print "".
		nonilFunc: str,
	}
}

const nonilFunc = "treuNonil"

// dflt implements {{ .Name | default "Kundin, Kunde" }}: the value, or def
// when the value is nil or blank.
func dflt(def, v any) any {
	if v == nil {
		return def
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return def
	}
	return v
}

// str prints v as text/template would, except that nil is "".
func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil
	}
	return 0, false
}

var currencySymbols = map[string]string{"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF", "": "€"}

// formatMoney writes 1234.5 as "1.234,50 €" (de) or "€1,234.50" (en). The
// space before a German symbol is a no-break space so the amount never wraps.
func formatMoney(lang, currency string, amount float64) string {
	if math.IsNaN(amount) || math.IsInf(amount, 0) {
		return ""
	}
	currency = strings.ToUpper(currency)
	sym, ok := currencySymbols[currency]
	if !ok {
		sym = currency
	}
	neg := amount < 0
	cents := int64(math.Round(math.Abs(amount) * 100))
	if cents >= 0 {
		// The common case without fmt; amounts beyond int64 take the
		// general path below.
		var buf [64]byte
		return string(appendMoney(buf[:0], lang, sym, neg, cents))
	}
	whole := strconv.FormatInt(cents/100, 10)
	frac := fmt.Sprintf("%02d", cents%100)
	thousands, decimal := ",", "."
	if lang == "de" {
		thousands, decimal = ".", ","
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	if lang != "de" {
		b.WriteString(sym)
		if len(sym) > 1 && !strings.ContainsAny(sym, "€$£") {
			b.WriteByte(' ')
		}
	}
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(thousands)
		}
		b.WriteRune(r)
	}
	b.WriteString(decimal)
	b.WriteString(frac)
	if lang == "de" {
		b.WriteString("\u00a0")
		b.WriteString(sym)
	}
	return b.String()
}

// appendMoney is formatMoney's output for cents >= 0.
func appendMoney(b []byte, lang, sym string, neg bool, cents int64) []byte {
	var wb [20]byte
	whole := strconv.AppendInt(wb[:0], cents/100, 10)
	frac := cents % 100
	thousands, decimal := byte(','), byte('.')
	if lang == "de" {
		thousands, decimal = '.', ','
	}
	if neg {
		b = append(b, '-')
	}
	if lang != "de" {
		b = append(b, sym...)
		if len(sym) > 1 && !strings.ContainsAny(sym, "€$£") {
			b = append(b, ' ')
		}
	}
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b = append(b, thousands)
		}
		b = append(b, c)
	}
	b = append(b, decimal, byte('0'+frac/10), byte('0'+frac%10))
	if lang == "de" {
		b = append(b, "\u00a0"...)
		b = append(b, sym...)
	}
	return b
}
