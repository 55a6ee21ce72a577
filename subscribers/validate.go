package subscribers

import (
	"bytes"
	"encoding/json"
	"net/mail"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/treu-mail/treu/internal/errs"
)

// Limits on what a subscriber record may hold.
const (
	maxEmail       = 254 // RFC 5321 path limit minus the brackets
	maxLocalPart   = 64
	maxName        = 200 // runes
	maxAttributes  = 16 << 10
	maxAttrKey     = 64
	maxAttrKeys    = 200
	maxConsentText = 10000
	maxUserAgent   = 512
	maxSource      = 200
	maxLists       = 100
)

// idnaProfile maps a Unicode domain to the ASCII form SMTP needs, with the
// lookup rules browsers use (lower-casing, NFC, no disallowed code points).
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.VerifyDNSLength(true),
	idna.StrictDomainName(true),
	idna.Transitional(false),
)

// ValidateEmail checks a bare address and returns it normalised for sending:
// the local part as written, the domain in lower-case ASCII (IDN converted).
// It refuses anything that could smuggle a header or a second recipient:
// display names, quoted strings, comments, IP literals, control characters.
func ValidateEmail(s string) (string, error) {
	if s == "" {
		return "", errs.Invalidf("email", "email is required")
	}
	if len(s) > 4*maxEmail { // do not feed megabytes to the IDNA code
		return "", errs.Invalidf("email", "email is longer than %d characters", maxEmail)
	}
	if !utf8.ValidString(s) {
		return "", errs.Invalidf("email", "email is not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x21 || r == 0x7f || unicode.IsControl(r) || unicode.IsSpace(r) || r == 0xfeff {
			return "", errs.Invalidf("email", "email must not contain spaces or control characters")
		}
	}
	at := strings.IndexByte(s, '@')
	if at < 0 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return "", errs.Invalidf("email", "email must contain exactly one @")
	}
	local, domain := s[:at], s[at+1:]
	if err := checkLocalPart(local); err != nil {
		return "", err
	}
	ascii, err := checkDomain(domain)
	if err != nil {
		return "", err
	}
	addr := local + "@" + ascii
	if len(addr) > maxEmail {
		return "", errs.Invalidf("email", "email is longer than %d characters", maxEmail)
	}
	// The stricter rules above imply RFC 5322 syntax; net/mail is the second
	// opinion that the result is one bare addr-spec and nothing else.
	parsed, err := mail.ParseAddress(addr)
	if err != nil || parsed.Name != "" || parsed.Address != addr {
		return "", errs.Invalidf("email", "email is not a valid address")
	}
	return addr, nil
}

// emailKey is the uniqueness key: the whole address lower-cased. Mailbox
// local parts are case-sensitive in theory and never in practice.
func emailKey(normalized string) string { return strings.ToLower(normalized) }

func checkLocalPart(local string) error {
	switch {
	case local == "":
		return errs.Invalidf("email", "email lacks the part before @")
	case len(local) > maxLocalPart:
		return errs.Invalidf("email", "the part before @ is longer than %d characters", maxLocalPart)
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return errs.Invalidf("email", "email has a misplaced dot before @")
	}
	for i := 0; i < len(local); i++ {
		if !isAtext(local[i]) && local[i] != '.' {
			if local[i] >= 0x80 {
				return errs.Invalidf("email", "the part before @ must be ASCII")
			}
			return errs.Invalidf("email", "email contains %q before @", local[i])
		}
	}
	return nil
}

// isAtext: RFC 5322 atext. Quoted strings are not accepted at all.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func checkDomain(domain string) (string, error) {
	if domain == "" {
		return "", errs.Invalidf("email", "email lacks the domain after @")
	}
	if domain[0] == '[' {
		return "", errs.Invalidf("email", "email must name a domain, not an IP address")
	}
	ascii, err := idnaProfile.ToASCII(strings.TrimSuffix(domain, "."))
	if err != nil {
		return "", errs.Invalidf("email", "email has an invalid domain")
	}
	if len(ascii) > 253 {
		return "", errs.Invalidf("email", "email domain is too long")
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", errs.Invalidf("email", "email domain must contain a dot")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", errs.Invalidf("email", "email has an invalid domain")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return "", errs.Invalidf("email", "email has an invalid domain")
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return "", errs.Invalidf("email", "email must name a domain, not an IP address")
	}
	return ascii, nil
}

// cleanText trims s and refuses control characters (newlines only where
// multiline) and invalid UTF-8; max counts runes.
func cleanText(field, s string, max int, multiline bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", errs.Invalidf(field, "%s is not valid UTF-8", field)
	}
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > max {
		return "", errs.Invalidf(field, "%s is longer than %d characters", field, max)
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return "", errs.Invalidf(field, "%s must not contain control characters", field)
		}
		if IsBidiControl(r) {
			return "", errs.Invalidf(field, "%s must not contain bidirectional control characters (U+%04X)", field, r)
		}
	}
	return s, nil
}

// IsBidiControl reports the invisible characters that reorder text (U+202A-E
// embeddings and overrides, U+2066-9 isolates, the marks U+200E/F and U+061C).
// In a name they can make "Kim" display as anything in a greeting, a From
// or To header, or the UI ("Trojan Source", CVE-2021-42574).
func IsBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c
}

// maxAttrDepth bounds how deeply attribute values nest (objects and arrays):
// enough for any shop's data, and it keeps recursive walks (templates,
// segments, export) cheap and safe.
const maxAttrDepth = 10

// attrDepth is how deeply v nests: 0 for a scalar, 1 for a flat object or array.
func attrDepth(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			d = max(d, attrDepth(e))
		}
		return d + 1
	case []any:
		for _, e := range v {
			d = max(d, attrDepth(e))
		}
		return d + 1
	}
	return 0
}

// ValidateName trims a subscriber's name and checks it (no line breaks: it may
// end up in a To header).
func ValidateName(s string) (string, error) { return cleanText("name", s, maxName, false) }

// ValidateLocale accepts "de" or "en", also as "de-DE", "en_GB", any case;
// empty means "en".
func ValidateLocale(s string) (string, error) {
	if s == "" {
		return "en", nil
	}
	base := strings.ToLower(s)
	if i := strings.IndexAny(base, "-_"); i > 0 {
		base = base[:i]
	}
	if base != "de" && base != "en" {
		return "", errs.Invalidf("locale", `locale must be "de" or "en"`)
	}
	return base, nil
}

// validAttrKey: what segments (attributes.KEY) and templates ({{ .Attr "KEY" }}) can name.
func validAttrKey(k string) bool {
	if k == "" || len(k) > maxAttrKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}

// parseAttributes decodes a JSON object of attributes. A null value means
// "delete this key" (kept as nil in the map for Update to act on).
func parseAttributes(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if len(raw) > maxAttributes {
		return nil, errs.Invalidf("attributes", "attributes are larger than %d bytes", maxAttributes)
	}
	if raw[0] != '{' {
		return nil, errs.Invalidf("attributes", "attributes must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep 12345678901234567890 as written
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, errs.Invalidf("attributes", "attributes must be a JSON object")
	}
	if len(m) > maxAttrKeys {
		return nil, errs.Invalidf("attributes", "attributes have more than %d keys", maxAttrKeys)
	}
	for k, v := range m {
		if !validAttrKey(k) {
			return nil, errs.Invalidf("attributes", "attribute key %q: use letters, digits, _ and - (at most %d)", k, maxAttrKey)
		}
		// The attributes object is level 1; its values may nest 9 more.
		if attrDepth(v) > maxAttrDepth-1 {
			return nil, errs.Invalidf("attributes."+k, "attribute %q nests deeper than %d levels", k, maxAttrDepth)
		}
	}
	return m, nil
}

// encodeAttributes writes the stored form, leaving out null values.
func encodeAttributes(m map[string]any) (string, error) {
	for k, v := range m {
		if v == nil {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", errs.Invalidf("attributes", "attributes: %v", err)
	}
	if len(b) > maxAttributes {
		return "", errs.Invalidf("attributes", "attributes are larger than %d bytes", maxAttributes)
	}
	return string(b), nil
}

// ConsentInput is the proof of consent a shop sends along (API.md "consent").
type ConsentInput struct {
	Text      string `json:"text"`       // the wording the customer agreed to
	IP        string `json:"ip"`         // the customer's IP, not the shop server's
	UserAgent string `json:"user_agent"` // the customer's browser
	Source    string `json:"source"`     // e.g. "checkout", "footer form"
}

func validateConsent(c ConsentInput) (ConsentInput, error) {
	var err error
	if c.Text, err = cleanText("consent.text", c.Text, maxConsentText, true); err != nil {
		return c, err
	}
	if c.UserAgent, err = cleanText("consent.user_agent", c.UserAgent, maxUserAgent, false); err != nil {
		return c, err
	}
	if c.Source, err = cleanText("consent.source", c.Source, maxSource, false); err != nil {
		return c, err
	}
	if c.IP, err = validateIP("consent.ip", c.IP); err != nil {
		return c, err
	}
	return c, nil
}

// validateIP accepts an empty string or an IPv4/IPv6 address (zones dropped).
func validateIP(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", errs.Invalidf(field, "%s is not an IP address", field)
	}
	return a.WithZone("").Unmap().String(), nil
}

// metaClean bounds what a request's own metadata adds to the consent log;
// it comes from headers, so it is trimmed rather than refused.
func metaClean(m Meta) Meta {
	if ip, err := validateIP("ip", m.IP); err == nil {
		m.IP = ip
	} else {
		m.IP = ""
	}
	m.UserAgent = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(m.UserAgent, ""))
	if len(m.UserAgent) > maxUserAgent {
		m.UserAgent = m.UserAgent[:maxUserAgent]
		m.UserAgent = strings.ToValidUTF8(m.UserAgent, "")
	}
	return m
}
