package imports

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
)

// What a column can hold.
const (
	UseIgnore    = ""
	UseEmail     = "email"
	UseName      = "name"
	UseLocale    = "locale"
	UseAttribute = "attribute"
)

// Uses are the choices of a column, in the order the mapping page lists them.
var Uses = []string{UseIgnore, UseEmail, UseName, UseLocale, UseAttribute}

const (
	// MaxColumns: a file with more is refused at upload.
	MaxColumns = 200
	// MaxIssues are listed in a report; more are only counted.
	MaxIssues = 200
	// maxColumnLines are the line numbers kept per broken column.
	maxColumnLines = 10
	samples        = 3
)

// Column says what a column of the file holds.
type Column struct {
	Header string `json:"header"`
	Use    string `json:"use"`
	Key    string `json:"key,omitempty"` // the attribute's key
}

// Settings are the mapping and the consent of an import.
type Settings struct {
	Columns       []Column `json:"columns"`
	Lists         []string `json:"lists"`
	Locale        string   `json:"locale"` // for rows without a language of their own
	ConsentSource string   `json:"consent_source"`
	ConsentText   string   `json:"consent_text"`
}

// GuessColumns maps well-known header names; every other column becomes an
// attribute named after its header, which the marketer may change or drop.
func GuessColumns(header []string) []Column {
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' || r == '_' || r == '.' {
				return -1
			}
			return unicode.ToLower(r)
		}, s)
	}
	out := make([]Column, len(header))
	haveEmail := false
	for i, h := range header {
		col := Column{Header: h}
		switch n := norm(h); {
		case slices.Contains([]string{"email", "mail", "emailaddress", "emailadresse", "mailadresse"}, n):
			if !haveEmail {
				col.Use, haveEmail = UseEmail, true
			}
		case slices.Contains([]string{"name", "fullname", "vollständigername", "firstname", "vorname", "lastname", "nachname", "surname"}, n):
			col.Use = UseName
		case slices.Contains([]string{"locale", "language", "lang", "sprache"}, n):
			col.Use = UseLocale
		default:
			if col.Key = AttrKeyOf(h); col.Key != "" {
				col.Use = UseAttribute
			}
		}
		out[i] = col
	}
	return out
}

var attrKeyRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$`)

// AttrKeyOf makes an attribute key from a header: what subscribers accept
// (letters, digits, _ and -) and segments can name; "" when nothing is left.
func AttrKeyOf(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-':
			b.WriteRune(r)
		case r == ' ' || r == '.':
			b.WriteRune('_')
		case r == 'ä':
			b.WriteString("ae")
		case r == 'ö':
			b.WriteString("oe")
		case r == 'ü':
			b.WriteString("ue")
		case r == 'ß':
			b.WriteString("ss")
		}
	}
	k := strings.TrimLeft(b.String(), "-")
	if len(k) > 64 {
		k = k[:64]
	}
	if !attrKeyRe.MatchString(k) {
		return ""
	}
	return k
}

// Validate checks the mapping and the consent; the error names the form
// field at fault (use.N, key.N, columns, lists, consent_source,
// consent_text). The lists' existence is checked by the importer.
func (s *Settings) Validate() error {
	emails := 0
	keys := map[string]bool{}
	for i, col := range s.Columns {
		if !slices.Contains(Uses, col.Use) {
			return errs.Invalidf("use."+strconv.Itoa(i), "Choose what each column holds.")
		}
		switch col.Use {
		case UseEmail:
			emails++
		case UseAttribute:
			if !attrKeyRe.MatchString(col.Key) {
				return errs.Invalidf("key."+strconv.Itoa(i), "An attribute name is 1 to 64 letters, digits, _ and - (not first).")
			}
			if keys[col.Key] {
				return errs.Invalidf("key."+strconv.Itoa(i), "Two columns have the same attribute name.")
			}
			keys[col.Key] = true
		}
	}
	if emails != 1 {
		return errs.Invalidf("columns", "Choose exactly one column with the email address.")
	}
	if s.Locale != "de" && s.Locale != "en" {
		s.Locale = "en"
	}
	if len(s.Lists) == 0 {
		return errs.Invalidf("lists", "Choose at least one list.")
	}
	// Without proof of consent an import may not skip the confirmation mail
	// (API.md: double_optin false requires consent).
	s.ConsentSource = strings.TrimSpace(s.ConsentSource)
	s.ConsentText = strings.TrimSpace(strings.ReplaceAll(s.ConsentText, "\r\n", "\n"))
	if s.ConsentSource == "" || utf8.RuneCountInString(s.ConsentSource) > 200 {
		return errs.Invalidf("consent_source", `Say where these addresses come from (at most 200 characters), e.g. "checkout 2019-2024".`)
	}
	if s.ConsentText == "" || utf8.RuneCountInString(s.ConsentText) > 10000 {
		return errs.Invalidf("consent_text", "Give the consent text these subscribers agreed to (at most 10,000 characters).")
	}
	return nil
}

// Issue is a row that will not be imported, or failed to.
type Issue struct {
	Line    int    `json:"line"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

func (s *Settings) emailHeader() string {
	for _, col := range s.Columns {
		if col.Use == UseEmail {
			return col.Header
		}
	}
	return ""
}

var number = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,6})?$`)

// row turns one record into an import row, or says what is wrong with it
// and in which column.
func (s *Settings) row(rec []string) (subscribers.ImportRow, *Issue) {
	in := subscribers.ImportRow{Locale: s.Locale}
	if len(rec) != len(s.Columns) {
		return in, &Issue{Message: fmt.Sprintf("the row has %d columns, the header %d", len(rec), len(s.Columns))}
	}
	var names []string
	for i, col := range s.Columns {
		v := strings.TrimSpace(rec[i])
		switch col.Use {
		case UseEmail:
			in.Email = v
		case UseName:
			if v != "" {
				names = append(names, v)
			}
		case UseLocale:
			if v != "" {
				in.Locale = v
			}
		case UseAttribute:
			if v == "" {
				continue
			}
			if !utf8.ValidString(v) {
				return in, &Issue{Column: col.Header, Message: "not valid UTF-8; save the file as UTF-8"}
			}
			if in.Attributes == nil {
				in.Attributes = make(map[string]any, len(s.Columns))
			}
			in.Attributes[col.Key] = attrValue(v)
		}
	}
	in.Name = strings.Join(names, " ")
	return in, nil
}

// columnOf names the column(s) behind a field subscribers refused.
func (s *Settings) columnOf(field string) string {
	var hs []string
	for _, col := range s.Columns {
		if col.Use == field {
			hs = append(hs, col.Header)
		}
	}
	return strings.Join(hs, ", ")
}

// attrValue types a cell: a plain number (no leading zeros, so postcodes
// and customer numbers such as 01234 stay text), true/false, or text.
func attrValue(v string) any {
	if number.MatchString(v) {
		return json.Number(v)
	}
	switch strings.ToLower(v) {
	case "true":
		return true
	case "false":
		return false
	}
	return v
}
