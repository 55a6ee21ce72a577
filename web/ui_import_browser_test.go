package web

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/text/encoding/charmap"
)

// TestBrowserImportExcelFile: a marketer uploads the file German Excel saves
// as "CSV (Trennzeichen-getrennt)": Windows-1252, semicolons, CRLF. The
// preview says how it was read and shows the umlauts, the check names the
// broken columns with their rows, and the import keeps every umlaut.
func TestBrowserImportExcelFile(t *testing.T) {
	env, m := newMoreEnv(t)
	b := newBrowser(t)
	b.signIn(env)

	text := "E-Mail;Vorname;Nachname;Straße;Sprache\r\n" +
		"jürgen@example.com;Jürgen;Müller;Königsallee 1;de\r\n" + // 2: a local part with ü is refused (no SMTPUTF8)
		"anna@example.com;Änne;Größe;Bahnhofstraße 5;de\r\n" + // 3
		"björn.o@example.com;Björn;Öztürk;Hauptstr. 2;de\r\n" + // 4: bad email
		"zoe@example.com;Zoë;Weiß;Am Bärenzwinger 3;fr\r\n" + // 5: bad language
		"otto@example.com;Otto;Fuß;Rue de l’Église 7;en\r\n" // 6
	raw, err := charmap.Windows1252.NewEncoder().Bytes([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "ü") || !strings.Contains(string(raw), "\xfc") {
		t.Fatal("the test file is not Windows-1252")
	}
	file := filepath.Join(t.TempDir(), "kunden.csv")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	b.do("upload the Excel file",
		chromedp.Navigate(env.ts.URL+"/ui/import"),
		chromedp.WaitVisible(chromedp.CSS(`#import-file`)),
		chromedp.SetUploadFiles(chromedp.CSS(`#import-file`), []string{file}),
		chromedp.Click(chromedp.CSS(`form[action="/ui/import"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#import-format`)))
	if s := b.text(`#import-format`); !strings.Contains(s, "Windows-1252 (as saved by Excel)") {
		b.fail("the preview does not say how the file was read: %q", s)
	}
	if s := b.text(`table.mapping`); !strings.Contains(s, "Straße") || !strings.Contains(s, "Jürgen") || !strings.Contains(s, "Königsallee 1") {
		b.fail("umlauts lost in the preview: %q", s)
	}
	if v := get(b, "the separator", chromedp.Value(chromedp.CSS(`#import-comma`))); v != ";" {
		b.fail("separator %q", v)
	}
	b.do("give the consent and check the file",
		chromedp.SendKeys(chromedp.CSS(`#import-source`), "Kundenkonto 2024"),
		chromedp.SendKeys(chromedp.CSS(`#import-text`), "Ja, ich möchte Angebote per E-Mail erhalten."),
		chromedp.Click(chromedp.CSS(`#import-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#column-problems`)))
	if n := b.text(`#report-valid`); n != "2" {
		b.fail("rows to import: %q, want 2", n)
	}
	problems := b.text(`#column-problems`)
	for _, want := range []string{"E-Mail", "2, 4", "Sprache", "5"} {
		if !strings.Contains(problems, want) {
			b.fail("column problems lack %q: %q", want, problems)
		}
	}
	if s := b.text(`td.col-check[data-column="E-Mail"]`); !strings.Contains(s, "rows with problems: 2") {
		b.fail("the mapping does not mark the email column: %q", s)
	}
	if s := b.text(`td.col-check[data-column="Straße"]`); s != "OK" {
		b.fail("a good column is marked: %q", s)
	}
	b.eval("accept the confirmation", `window.confirm = () => true`)
	b.do("import",
		chromedp.Click(chromedp.CSS(`#import-run`)),
		chromedp.WaitVisible(chromedp.CSS(`#import-done`)))
	if n := b.text(`#import-created`); n != "2" {
		b.fail("created: %q, want 2", n)
	}
	anna, err := m.subs.Get(context.Background(), "anna@example.com")
	if err != nil {
		b.fail("anna: %v", err)
	}
	var attrs map[string]any
	json.Unmarshal(anna.Attributes, &attrs)
	if anna.Name != "Änne Größe" || attrs["strasse"] != "Bahnhofstraße 5" {
		b.fail("umlauts lost in the import: %q %v", anna.Name, attrs)
	}
	otto, _ := m.subs.Get(context.Background(), "otto@example.com")
	json.Unmarshal(otto.Attributes, &attrs)
	if otto.Name != "Otto Fuß" || attrs["strasse"] != "Rue de l’Église 7" || otto.Locale != "en" {
		b.fail("otto: %q %v", otto.Name, attrs)
	}
}
