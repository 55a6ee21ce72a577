package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/accounts"
	"github.com/treu-mail/treu/imports"
)

// lateImports lets a test build the import service after the env's database.
type lateImports struct{ s **imports.Service }

func (l lateImports) Upload(ctx context.Context, uid int64, name string, body io.Reader) (imports.Job, error) {
	return (*l.s).Upload(ctx, uid, name, body)
}
func (l lateImports) Get(ctx context.Context, id string, uid int64) (imports.Job, error) {
	return (*l.s).Get(ctx, id, uid)
}
func (l lateImports) SetComma(ctx context.Context, id string, uid int64, comma string) (imports.Job, error) {
	return (*l.s).SetComma(ctx, id, uid, comma)
}
func (l lateImports) Check(ctx context.Context, id string, uid int64, s imports.Settings) (imports.Job, error) {
	return (*l.s).Check(ctx, id, uid, s)
}
func (l lateImports) Start(ctx context.Context, id string, uid int64) (imports.Job, error) {
	return (*l.s).Start(ctx, id, uid)
}
func (l lateImports) Run(ctx context.Context, id string) error { return (*l.s).Run(ctx, id) }
func (l lateImports) Updated() <-chan struct{}                 { return (*l.s).Updated() }

var importIDRe = regexp.MustCompile(`^/ui/import/([A-Za-z0-9_-]{22})$`)

// waitImport asks for the progress until the import is done. Each request
// waits on the server for the import to end (up to importPoll), so this
// loop does not spin.
func waitImport(t *testing.T, c *uiClient, id string) string {
	t.Helper()
	for range 60 {
		r := c.get("/ui/import/" + id + "/progress")
		if r.Status != http.StatusOK {
			t.Fatalf("progress: %d\n%s", r.Status, r.Body)
		}
		if strings.Contains(r.Body, `data-finished="true"`) {
			return r.Body
		}
	}
	t.Fatal("the import did not finish")
	return ""
}

func TestUIImport(t *testing.T) {
	env, m := newMoreEnv(t)
	ctx := context.Background()
	if _, err := m.subs.CreateList(ctx, "kunden", "Kunden", ""); err != nil {
		t.Fatal(err)
	}
	// One address is there already, one was erased (and may not be imported).
	enroll(t, m.subs, "vorher@example.com", "Vorher")
	gone := enroll(t, m.subs, "weg@example.com", "Weg")
	if err := m.subs.Erase(ctx, itoa(gone.ID)); err != nil {
		t.Fatal(err)
	}
	c := env.client()
	c.signIn()

	r := c.get("/ui/import")
	mustContain(t, "import page", r.Body, `enctype="multipart/form-data"`, `aria-current="page">Import</a>`)
	tok := c.csrfOf("/ui/import")

	// A German spreadsheet export: semicolons, a byte order mark.
	csvText := "\ufeffE-Mail;Vorname;Nachname;Sprache;Stadt;Kundennummer;Punkte\n" +
		"anna@example.com;Anna;Berg;de;Berlin;01234;120\n" + // 2
		"keine-adresse;Ben;Bauer;de;Köln;2;5\n" + // 3: bad email
		"cem@example.com;Cem;<script>x()</script>;fr;Bonn;3;7\n" + // 4: bad locale
		"ANNA@example.com;Anna;Zwei;de;Berlin;4;1\n" + // 5: repeated address
		"dora@example.com;Dora\n" + // 6: too few columns
		"\"eva@example.com\";\"Eva\";\"Maria\nSchulz\";en;Hamburg;6;true\n" + // 7: a line break in a name
		"vorher@example.com;Vor;Her;de;Berlin;7;0\n" + // 9: exists
		"weg@example.com;Weg;Weg;de;Berlin;8;0\n" + // 10: erased
		"fritz@example.com;Fritz;;;München;9;3.5\n" // 11
	r = c.upload("/ui/import", url.Values{"csrf": {tok}}, "file", "kunden.csv", []byte(csvText))
	m2 := importIDRe.FindStringSubmatch(r.Location)
	if r.Status != http.StatusSeeOther || m2 == nil {
		t.Fatalf("upload: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	id := m2[1]
	page := "/ui/import/" + id
	r = c.get(page)
	mustContain(t, "mapping", r.Body,
		`<option value=";" selected>`, `<th scope="row">E-Mail</th>`, `<p id="import-format">Read as UTF-8 (with byte order mark).</p>`, `name="key.4" value="stadt"`, `name="key.5" value="kundennummer"`,
		`value="newsletter" checked`, "&lt;script&gt;x()&lt;/script&gt;")
	for i, want := range []string{"email", "name", "name", "locale", "attribute", "attribute", "attribute"} {
		if got := selected(r.Body, "use."+itoa(int64(i))); got != want {
			t.Errorf("column %d guessed as %q, want %q", i, got, want)
		}
	}
	if strings.Contains(r.Body, "<script>x()") {
		t.Fatal("a cell of the file is not escaped")
	}

	mapping := url.Values{"csrf": {tok}, "comma": {";"}, "lists": {"newsletter", "kunden"}, "locale": {"de"},
		"use.0": {"email"}, "use.1": {"name"}, "use.2": {"name"}, "use.3": {"locale"},
		"use.4": {"attribute"}, "key.4": {"stadt"}, "use.5": {"attribute"}, "key.5": {"kundennummer"},
		"use.6": {"attribute"}, "key.6": {"punkte"}}
	// The consent is required.
	r = c.post(page+"/check", mapping)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `name="consent_source" value="" required maxlength="200" placeholder="e.g. checkout 2019-2024" aria-invalid="true"`) {
		t.Fatalf("no consent: %d\n%s", r.Status, r.Body)
	}
	mapping.Set("consent_source", "Bestellvorgang 2019-2024")
	r = c.post(page+"/check", mapping)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Give the consent text") {
		t.Fatalf("no consent text: %d\n%s", r.Status, r.Body)
	}
	mapping.Set("consent_text", "Ja, ich möchte den Newsletter von Laden am Eck erhalten.")
	bad := url.Values{}
	for k, v := range mapping {
		bad[k] = v
	}
	bad.Set("use.1", "email")
	if r := c.post(page+"/check", bad); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "exactly one column with the email address") {
		t.Fatalf("two email columns: %d\n%s", r.Status, r.Body)
	}
	bad.Set("use.1", "attribute")
	bad.Set("key.1", "-x")
	if r := c.post(page+"/check", bad); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `name="key.1" value="-x" maxlength="64" aria-label="Attribute name: Vorname" aria-invalid="true"`) {
		t.Fatalf("bad attribute key: %d\n%s", r.Status, r.Body)
	}

	// The dry run: every bad row with its line, nothing imported yet.
	r = c.post(page+"/check", mapping)
	if r.Status != http.StatusSeeOther || r.Location != page+"#report" {
		t.Fatalf("check: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	r = c.get(page)
	mustContain(t, "report", r.Body,
		`Rows: <strong>9</strong>`, `to import: <strong id="report-valid">4</strong>`, `with errors: <strong id="report-bad">4</strong>`,
		`repeated addresses: <strong>1</strong>`,
		`<tr><td class="num">3</td><td>E-Mail</td><td>`,
		`<tr><td class="num">4</td><td>Sprache</td><td>locale must be &#34;de&#34; or &#34;en&#34;</td></tr>`,
		`<tr><td class="num">5</td><td>E-Mail</td><td>the same address as line 2; only the first is imported</td></tr>`,
		`<tr><td class="num">6</td><td></td><td>the row has 2 columns, the header 7</td></tr>`,
		`<tr><td class="num">7</td><td>Vorname, Nachname</td><td>name must not contain control characters</td></tr>`,
		`value="Bestellvorgang 2019-2024"`, `action="`+page+`/run"`, ">Import 4 subscribers</button>",
		`<tr><td>E-Mail</td><td class="num">2</td><td>3, 5</td>`, `<tr><td>Sprache</td><td class="num">1</td><td>4</td>`,
		`<tr><td>(the whole row)</td><td class="num">1</td><td>6</td>`,
		`data-column="Vorname"><span class="col-bad">rows with problems: 1</span>`, `data-column="Stadt"><span class="col-ok">OK</span>`)
	if n, _ := m.subs.Lists(ctx); n[0].Subscribers+n[1].Subscribers != 1 {
		t.Fatalf("the dry run imported: %+v", n)
	}

	// The import itself.
	r = c.post(page+"/run", url.Values{"csrf": {tok}})
	if r.Status != http.StatusSeeOther || r.Location != page {
		t.Fatalf("run: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	body := waitImport(t, c, id)
	mustContain(t, "summary", body, `id="import-created">2</strong>`, `id="import-existing">1</strong>`, `id="import-failed">1</strong>`,
		`id="import-done"`, `<tr><td class="num">10</td><td></td><td>this address was erased or suppressed; enroll it with double opt-in</td></tr>`,
		"left out after the check: 5")
	mustContain(t, "import page after the run", c.get(page).Body, `id="import-created">2</strong>`)
	// Started once only.
	if r := c.post(page+"/run", url.Values{"csrf": {tok}}); r.Status != http.StatusSeeOther {
		t.Fatalf("second run: %d", r.Status)
	}

	anna, err := m.subs.Get(ctx, "anna@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]any
	json.Unmarshal(anna.Attributes, &attrs)
	if anna.Status != "active" || anna.Name != "Anna Berg" || anna.Locale != "de" || len(anna.Lists) != 2 ||
		attrs["stadt"] != "Berlin" || attrs["kundennummer"] != "01234" || attrs["punkte"] != float64(120) {
		t.Fatalf("imported: %+v %v", anna, attrs)
	}
	if len(anna.Consents) != 1 || anna.Consents[0].Action != "imported" || anna.Consents[0].Channel != "admin" ||
		anna.Consents[0].Source != "Bestellvorgang 2019-2024" || !strings.Contains(anna.Consents[0].Text, "Laden am Eck") ||
		anna.Consents[0].IP != "" || anna.Consents[0].UserAgent != "" {
		t.Fatalf("consent record: %+v", anna.Consents)
	}
	// Fritz has no language: the default; a decimal stays a number.
	fritz, _ := m.subs.Get(ctx, "fritz@example.com")
	json.Unmarshal(fritz.Attributes, &attrs)
	if fritz.Name != "Fritz" || fritz.Locale != "de" || attrs["punkte"] != 3.5 || attrs["stadt"] != "München" {
		t.Fatalf("fritz %+v %v", fritz, attrs)
	}
	if _, err := m.subs.Get(ctx, "weg@example.com"); err == nil {
		t.Fatal("an erased address came back by import")
	}

	// Another marketer cannot see this import.
	if _, err := env.accounts.AddUser(ctx, "tom@shop.example", "another good password", accounts.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	other := env.client()
	tk := other.csrfOf("/ui/login")
	other.post("/ui/login", url.Values{"csrf": {tk}, "email": {"tom@shop.example"}, "password": {"another good password"}})
	if r := other.get(page); r.Status != http.StatusNotFound {
		t.Fatalf("another user's import: %d", r.Status)
	}
}

func TestUIImportBadFiles(t *testing.T) {
	env, _ := newMoreEnv(t)
	c := env.client()
	c.signIn()
	tok := c.csrfOf("/ui/import")
	for _, tc := range []struct {
		name, content string
		status        int
		want          string
	}{
		{"empty", "", http.StatusUnprocessableEntity, "The file is empty."},
		{"too wide", strings.Repeat("a,", 300) + "a\n", http.StatusUnprocessableEntity, "more than 200 columns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.upload("/ui/import", url.Values{"csrf": {tok}}, "file", "x.csv", []byte(tc.content))
			if r.Status != tc.status || !strings.Contains(r.Body, tc.want) {
				t.Fatalf("%d, want %d with %q\n%s", r.Status, tc.status, tc.want, r.Body)
			}
		})
	}
	if r := c.post("/ui/import", url.Values{"csrf": {tok}}); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Choose a file") {
		t.Fatalf("no file: %d", r.Status)
	}

	// A broken quote stops the dry run at its line; nothing can be imported.
	r := c.upload("/ui/import", url.Values{"csrf": {tok}}, "file", "x.csv", []byte("email,name\na@example.com,A\nb@example.com,B \"x\"\nc@example.com,C\n"))
	page := r.Location
	r = c.post(page+"/check", url.Values{"csrf": {tok}, "comma": {","}, "use.0": {"email"}, "use.1": {"name"}, "lists": {"newsletter"},
		"locale": {"en"}, "consent_source": {"shop"}, "consent_text": {"yes"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("check: %d\n%s", r.Status, r.Body)
	}
	body := c.get(page).Body
	mustContain(t, "report of a broken file", body, "Line 3: bare &#34;", "Nothing after it can be read.")
	if strings.Contains(body, "/run\"") {
		t.Fatal("a broken file offers an import")
	}
	if r := c.post(page+"/run", url.Values{"csrf": {tok}}); r.Status != http.StatusConflict {
		t.Fatalf("run of a broken file: %d", r.Status)
	}

	// Another separator reads the columns again.
	r = c.upload("/ui/import", url.Values{"csrf": {tok}}, "file", "x.csv", []byte("email;name\na@example.com;A\n"))
	page = r.Location
	if !strings.Contains(c.get(page).Body, `<th scope="row">email</th>`) {
		t.Fatal("semicolons not detected")
	}
	r = c.post(page+"/check", url.Values{"csrf": {tok}, "comma": {","}, "use.0": {"email"}})
	mustContain(t, "new separator", r.Body, "read again with the new separator", `<th scope="row">email;name</th>`)
	if r := c.get("/ui/import/AAAAAAAAAAAAAAAAAAAAAA"); r.Status != http.StatusNotFound {
		t.Fatalf("unknown import: %d", r.Status)
	}
}

// TestUIImportProgress: a running import shows how far it is, its rate and
// an estimate of the time left, by the store's clock.
func TestUIImportProgress(t *testing.T) {
	env, m := newMoreEnv(t)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	env.db.Now = func() time.Time { return now }
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	m.imps, err = imports.New(env.db, m.subs, imports.Config{Dir: t.TempDir(), BatchRows: 100,
		OnCheckpoint: func(string, int) { cancel() }}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := env.client()
	c.signIn()
	tok := c.csrfOf("/ui/import")
	var file strings.Builder
	file.WriteString("email\n")
	for i := range 1000 {
		fmt.Fprintf(&file, "k%d@example.com\n", i)
	}
	r := c.upload("/ui/import", url.Values{"csrf": {tok}}, "file", "k.csv", []byte(file.String()))
	page := r.Location
	id := strings.TrimPrefix(page, "/ui/import/")
	r = c.post(page+"/check", url.Values{"csrf": {tok}, "comma": {","}, "use.0": {"email"}, "lists": {"newsletter"},
		"locale": {"de"}, "consent_source": {"shop"}, "consent_text": {"yes"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("check: %d\n%s", r.Status, r.Body)
	}
	if _, err := m.imps.Start(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.imps.Run(ctx, id); err != nil { // stops after the first batch
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second)
	mustContain(t, "progress", c.get(page).Body, `data-finished="false"`, `value="100"`, "Rows 100 / 1,000 (10%)",
		`<span id="import-rate">10 rows per second</span>`, `<span id="import-left">about 2 min left</span>`)

	if err := m.imps.Run(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "finished", waitImport(t, c, id), `id="import-created">1,000</strong>`, `id="import-done"`)
}

func TestRoughDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{200 * time.Millisecond, "1 s"}, {42 * time.Second, "42 s"}, {89 * time.Second, "1 min"}, {90 * time.Second, "2 min"},
		{3*time.Hour + 7*time.Minute, "3 h 7 min"}} {
		if got := roughDuration(tc.d); got != tc.want {
			t.Errorf("roughDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
