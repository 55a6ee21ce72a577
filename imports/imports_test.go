package imports

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/unicode"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store/storetest"
	"github.com/treu-mail/treu/subscribers"
)

func TestDetect(t *testing.T) {
	excel := "E-Mail;Vorname;Stadt\r\nanna@example.com;Anna;Köln\r\nbjörn@example.com;Björn;Düsseldorf\r\n"
	utf16, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(strings.ReplaceAll(excel, ";", "\t")))
	for _, tc := range []struct {
		name    string
		content []byte
		want    Format
	}{
		{"utf-8 commas", []byte("email,name\na@example.com,Änne\n"), Format{Encoding: UTF8, Comma: ","}},
		{"utf-8 with BOM, semicolons", []byte("\ufeff" + excel), Format{Encoding: UTF8BOM, Comma: ";"}},
		{"German Excel: windows-1252, semicolons", cp1252(excel), Format{Encoding: Windows1252, Comma: ";"}},
		{"windows-1252 late in a big file", append(people(5000, ";"), cp1252("z@example.com;Zoë;Jürgen;Köln;1;2\n")...), Format{Encoding: Windows1252, Comma: ";"}},
		{"utf-16 tabs", utf16, Format{Encoding: UTF16LE, Comma: "\t"}},
		{"gzip", gz(cp1252(excel)), Format{Compression: "gzip", Encoding: Windows1252, Comma: ";"}},
		{"zip", zipped(map[string][]byte{"kunden.csv": cp1252(excel), "__MACOSX/._kunden.csv": {0, 1}}), Format{Compression: "zip", Member: "kunden.csv", Encoding: Windows1252, Comma: ";"}},
		{"quoted commas do not count", []byte("\"a,b,c\";x;y\n"), Format{Encoding: UTF8, Comma: ";"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "f", tc.content)
			f, err := Detect(p)
			if err != nil || f != tc.want {
				t.Fatalf("Detect = %+v, %v; want %+v", f, err, tc.want)
			}
		})
	}
	// The decoded text of German Excel's file is the original.
	p := writeFile(t, "f", gz(cp1252(excel)))
	f, _ := Detect(p)
	r, closer, err := f.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	b, _ := readAll(r)
	if string(b) != excel {
		t.Fatalf("decoded %q", b)
	}
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"broken gzip", gz(people(10, ","))[:30], "damaged"},
		{"zip with two files", zipped(map[string][]byte{"a.csv": []byte("x"), "b.csv": []byte("y")}), "2 CSV files"},
		{"empty zip", zipped(nil), "no CSV file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.svc.Upload(e.ctx, 1, "x", strings.NewReader(string(tc.content)))
			if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if left, _ := os.ReadDir(e.dir); len(left) != 0 {
				t.Fatalf("a refused upload left %d files", len(left))
			}
		})
	}
}

func readAll(r interface{ Read([]byte) (int, error) }) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, nil
		}
	}
}

// TestCheckNamesBrokenColumns: the dry run lists every bad row and names each
// broken column with its rows; nothing is written.
func TestCheckNamesBrokenColumns(t *testing.T) {
	e := newEnv(t)
	file := "E-Mail;Vorname;Nachname;Sprache;Stadt\n" +
		"anna@example.com;Anna;Berg;de;Berlin\n" + // 2
		"keine-adresse;Ben;Bauer;de;Köln\n" + // 3: email
		"cem@example.com;Cem;Yilmaz;fr;Bonn\n" + // 4: locale
		"ANNA@example.com;Anna;Zwei;de;Berlin\n" + // 5: repeat
		"dora@example.com;Dora\n" + // 6: shape
		"x@@example.com;X;Y;en;Z\n" + // 7: email
		"eva@example.com;Eva;Schulz;xx;Hamburg\n" // 8: locale
	j := e.upload("kunden.csv", cp1252(file))
	if j.Format.Encoding != Windows1252 || j.Format.Comma != ";" || !slices.Equal(j.Header, []string{"E-Mail", "Vorname", "Nachname", "Sprache", "Stadt"}) {
		t.Fatalf("upload: %+v %q", j.Format, j.Header)
	}
	if j.Sample[1][4] != "Köln" {
		t.Fatalf("sample %q", j.Sample)
	}
	j, err := e.svc.Check(e.ctx, j.ID, 1, settingsFor(j))
	if err != nil {
		t.Fatal(err)
	}
	r := j.Report
	if r.Rows != 7 || r.Valid != 1 || r.Bad != 5 || r.Duplicates != 1 || j.Status != StatusChecked {
		t.Fatalf("report %+v", r)
	}
	cols := map[string]ColumnProblem{}
	for _, c := range r.Columns {
		cols[c.Column] = c
	}
	if c := cols["E-Mail"]; c.Rows != 3 || !slices.Equal(c.Lines, []int{3, 5, 7}) || len(c.Messages) != 2 {
		t.Errorf("email column: %+v", c)
	}
	if c := cols["Sprache"]; c.Rows != 2 || !slices.Equal(c.Lines, []int{4, 8}) || !slices.Equal(c.Messages, []string{`locale must be "de" or "en"`}) {
		t.Errorf("locale column: %+v", c)
	}
	if c := cols[""]; c.Rows != 1 || c.Lines[0] != 6 {
		t.Errorf("shape: %+v", c)
	}
	if len(cols) != 3 {
		t.Errorf("columns %+v", r.Columns)
	}
	if n := e.count(`SELECT count(*) FROM subscribers`); n != 0 {
		t.Fatalf("the dry run wrote %d subscribers", n)
	}

	// Bad settings name their field.
	for _, tc := range []struct {
		field string
		edit  func(*Settings)
	}{
		{"columns", func(s *Settings) { s.Columns[0].Use = "" }},
		{"key.4", func(s *Settings) { s.Columns[4].Key = "-x" }},
		{"use.1", func(s *Settings) { s.Columns[1].Use = "phone" }},
		{"lists", func(s *Settings) { s.Lists = nil }},
		{"lists", func(s *Settings) { s.Lists = []string{"nope"} }},
		{"consent_source", func(s *Settings) { s.ConsentSource = " " }},
		{"consent_text", func(s *Settings) { s.ConsentText = "" }},
	} {
		s := settingsFor(j)
		s.Columns = slices.Clone(s.Columns)
		tc.edit(&s)
		_, err := e.svc.Check(e.ctx, j.ID, 1, s)
		if er, ok := errs.As(err); !ok || er.Kind != errs.Invalid || er.Field != tc.field {
			t.Errorf("%s: %v", tc.field, err)
		}
	}
	// Another user's job is missing.
	if _, err := e.svc.Get(e.ctx, j.ID, 2); !errs.Is(err, errs.NotFound) {
		t.Fatalf("another user's job: %v", err)
	}
	// Another separator reads the header again.
	j, err = e.svc.SetComma(e.ctx, j.ID, 1, ",")
	if err != nil || len(j.Header) != 1 || j.Status != StatusUploaded || j.Report != nil {
		t.Fatalf("comma: %+v %v", j, err)
	}
}

func TestRunImports(t *testing.T) {
	e := newEnv(t)
	if _, err := e.subs.CreateList(e.ctx, "kunden", "Kunden", ""); err != nil {
		t.Fatal(err)
	}
	// One address is there already, one was erased.
	no := false
	if _, _, err := e.subs.Enroll(e.ctx, subscribersInput("vorher@example.com", &no), metaAPI()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.subs.Enroll(e.ctx, subscribersInput("weg@example.com", &no), metaAPI()); err != nil {
		t.Fatal(err)
	}
	if err := e.subs.Erase(e.ctx, "weg@example.com"); err != nil {
		t.Fatal(err)
	}
	file := "email,name,city,points\n" +
		"anna@example.com,Anna Berg,Berlin,120\n" +
		"vorher@example.com,Vor Her,Berlin,1\n" +
		"weg@example.com,Weg,Berlin,1\n" +
		"bad,X,Y,1\n" +
		"ben@example.com,Ben,\"Köln, Süd\",01234\n"
	j := e.upload("kunden.csv.gz", gz([]byte(file)))
	s := settingsFor(j)
	s.Lists = []string{"newsletter", "kunden"}
	j, err := e.svc.Check(e.ctx, j.ID, 1, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Start(e.ctx, j.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Run(e.ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	j, _ = e.svc.Get(e.ctx, j.ID, 1)
	if j.Status != StatusFinished || j.Created != 2 || j.Existing != 1 || j.Failed != 1 || j.Skipped != 1 || j.RowsRead != 5 ||
		len(j.Issues) != 1 || j.Issues[0].Line != 4 || !strings.Contains(j.Issues[0].Message, "erased") || len(j.Sample) != 0 {
		t.Fatalf("job %+v", j)
	}
	if _, err := os.Stat(j.path); !os.IsNotExist(err) {
		t.Fatalf("the upload stays after the import: %v", err)
	}
	ben, err := e.subs.Get(e.ctx, "ben@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]any
	json.Unmarshal(ben.Attributes, &attrs)
	if ben.Status != "active" || ben.Locale != "de" || len(ben.Lists) != 2 || attrs["city"] != "Köln, Süd" || attrs["points"] != "01234" {
		t.Fatalf("ben %+v %v", ben, attrs)
	}
	if len(ben.Consents) != 1 || ben.Consents[0].Action != "imported" || ben.Consents[0].Source != "Bestellvorgang 2019-2024" ||
		ben.Consents[0].Channel != "admin" || ben.Consents[0].IP != "" {
		t.Fatalf("consent %+v", ben.Consents)
	}
	vorher, _ := e.subs.Get(e.ctx, "vorher@example.com")
	if len(vorher.Lists) != 2 {
		t.Fatalf("existing subscriber's lists: %+v", vorher.Lists)
	}
	// Running it again changes nothing.
	if err := e.svc.Run(e.ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM consents WHERE action = 'imported'`); n != 4 { // vorher's, anna's and ben's, vorher's new list (weg's went with the erasure)
		t.Fatalf("%d import consents", n)
	}
}

// TestResumeAfterShutdown: a run stopped between batches gives its lease
// up; the next run continues after the checkpoint.
func TestResumeAfterShutdown(t *testing.T) {
	e := newEnvAt(t, storetest.Open(t), Config{BatchRows: 100})
	j := e.upload("people.csv", people(1000, ","))
	j, err := e.svc.Check(e.ctx, j.ID, 1, settingsFor(j))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Start(e.ctx, j.ID, 1)
	ctx, cancel := context.WithCancel(e.ctx)
	e.svc.cfg.OnCheckpoint = func(_ string, n int) {
		if n >= 300 {
			cancel()
		}
	}
	if err := e.svc.Run(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	j, _ = e.svc.Get(e.ctx, j.ID, 1)
	if j.Status != StatusRunning || j.RowsRead < 300 || j.RowsRead >= 1000 || j.RowsRead%100 != 0 || j.Created != j.RowsRead {
		t.Fatalf("after shutdown: %+v", j)
	}
	if ids, _ := e.svc.Lapsed(e.ctx); !slices.Equal(ids, []string{j.ID}) {
		t.Fatalf("lapsed %q", ids)
	}
	p := j.Progress(e.clock.Now().Add(10 * time.Second))
	if p.Pct != j.RowsRead/10 || p.Rate <= 0 || p.Remaining <= 0 {
		t.Fatalf("progress %+v", p)
	}
	e.svc.cfg.OnCheckpoint = nil
	if err := e.svc.Run(e.ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	assertImportedOnce(t, e, j.ID, 1000)
}

// assertImportedOnce: every row of the file is a subscriber with exactly one
// import consent, and the job's figures say so.
func assertImportedOnce(t *testing.T, e *env, id string, n int) {
	t.Helper()
	j, err := e.svc.Get(e.ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != StatusFinished || j.Created != n || j.Existing != 0 || j.RowsRead != n {
		t.Fatalf("job %+v", j)
	}
	if got := e.count(`SELECT count(*) FROM subscribers WHERE status = 'active'`); got != n {
		t.Fatalf("%d subscribers, want %d", got, n)
	}
	if got := e.count(`SELECT count(*) FROM consents WHERE action = 'imported'`); got != n {
		t.Fatalf("%d import consents, want %d", got, n)
	}
	if got := e.count(`SELECT count(*) FROM subscriptions WHERE status = 'active'`); got != n {
		t.Fatalf("%d subscriptions, want %d", got, n)
	}
	if got := e.count(`SELECT count(*) FROM subscribers WHERE email_key = 'kunde0@example.com' OR email_key = ?`, "kunde"+strconv.Itoa(n-1)+"@example.com"); got != 2 {
		t.Fatalf("first or last row missing")
	}
}

func subscribersInput(email string, doi *bool) subscribers.EnrollInput {
	return subscribers.EnrollInput{Email: email, DoubleOptIn: doi, Consent: &subscribers.ConsentInput{Text: "ja", Source: "test"}}
}

func metaAPI() subscribers.Meta { return subscribers.Meta{Channel: subscribers.ChannelAPI} }
