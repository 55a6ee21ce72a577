package imports

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/treu-mail/treu/subscribers"
)

// FuzzRow: no row makes the mapping or the checks panic, and a row they pass
// is one subscribers accepts as valid.
func FuzzRow(f *testing.F) {
	f.Add("anna@example.com", "Anna", "de", "Berlin")
	f.Add("x", "\x00", "fr", "")
	f.Add("ANNA@EXAMPLE.COM", "", "", "01234")
	e := newEnv(f)
	s := Settings{Lists: []string{"newsletter"}, Locale: "en", ConsentSource: "shop", ConsentText: "yes",
		Columns: []Column{{Header: "email", Use: UseEmail}, {Header: "name", Use: UseName}, {Header: "locale", Use: UseLocale},
			{Header: "city", Use: UseAttribute, Key: "city"}}}
	im, err := e.svc.importer(e.ctx, &s)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, email, name, locale, city string) {
		in, issue := s.row([]string{email, name, locale, city})
		if issue != nil {
			return
		}
		p, err := im.Prepare(in)
		if err != nil {
			return
		}
		if _, err := subscribers.ValidateEmail(p.Key()); err != nil {
			t.Fatalf("passed a bad email %q", p.Key())
		}
		if in.Attributes != nil {
			if _, err := json.Marshal(in.Attributes); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzFile: any uploaded bytes end in a job or an error naming the file,
// and a dry run over them reports instead of panicking.
func FuzzFile(f *testing.F) {
	f.Add([]byte("email;name\na@example.com;A\n"))
	f.Add(gz([]byte("email,name\na@example.com,\"A\n")))
	f.Add(zipped(map[string][]byte{"a.csv": cp1252("email;näme\nx@example.com;ü\n")}))
	f.Add([]byte{0xFF, 0xFE, 'e', 0})
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := e.svc.Upload(e.ctx, 1, "f.csv", bytes.NewReader(b))
		if err != nil {
			return
		}
		s := settingsFor(j)
		if len(s.Columns) > 0 {
			s.Columns[0].Use = UseEmail
			for i := 1; i < len(s.Columns); i++ {
				s.Columns[i].Use = ""
			}
		}
		e.svc.Check(e.ctx, j.ID, 1, s)
	})
}
