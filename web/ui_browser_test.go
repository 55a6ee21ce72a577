package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/treu-mail/treu/campaigns"
)

// chromiumPath is where Debian's chromium lives; scripts/deps.sh installs it.
const chromiumPath = "/usr/bin/chromium"

// browser is a headless Chromium driving the real server.
type browser struct {
	t    *testing.T
	ctx  context.Context
	shot int
}

// newBrowser starts a fresh Chromium. Without it the test fails rather than
// skips: CI must not go green by quietly testing nothing. Only -short skips.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test; runs without -short")
	}
	path := chromiumPath
	if p := os.Getenv("TREU_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("browser tests need Chromium at %s (run scripts/deps.sh, or set TREU_CHROMIUM): %v", path, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // containers and CI runners often lack user namespaces
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.WSURLReadTimeout(60 * time.Second), // a loaded 2-core machine starts it slowly
	}
	// One more try when the start fails: on a machine busy with other
	// test binaries Chromium now and then exits before it says where it
	// listens. A second failure fails the test.
	var err error
	for try := 0; try < 2; try++ {
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		// No timeout on the browser's own context: it would stop the browser.
		// Each step gets one instead (stepTimeout).
		ctx, cancelCtx := chromedp.NewContext(allocCtx)
		// Start the browser now, so its start-up is not blamed on the first step.
		if err = chromedp.Do(ctx); err == nil {
			t.Cleanup(func() {
				cancelCtx()
				cancelAlloc()
			})
			return &browser{t: t, ctx: ctx}
		}
		cancelCtx()
		cancelAlloc()
		t.Logf("start chromium (try %d): %v", try+1, err)
	}
	t.Fatalf("start chromium: %v", err)
	return nil
}

// stepTimeout bounds one step; generous for a loaded 2-core CI machine.
const stepTimeout = 20 * time.Second

// do performs actions; on failure it saves a screenshot and fails the test.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v%s", step, err, b.screenshot())
	}
}

// get runs one action that reads a value.
func get[T any](b *browser, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v%s", step, err, b.screenshot())
	}
	return v
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(get(b, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

func (b *browser) location() string {
	b.t.Helper()
	return get(b, "read location", chromedp.Location())
}

// screenshot saves the page to web/testdata/screenshots (gitignored) and
// returns a note with its path for the failure message.
func (b *browser) screenshot() string {
	b.shot++
	// A fresh deadline: the step's may be what ran out.
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Sprintf(" (no screenshot: %v)", err)
	}
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		dir = b.t.TempDir()
	}
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(b.t.Name(), "_")
	path, _ := filepath.Abs(filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, b.shot)))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Sprintf(" (no screenshot: %v)", err)
	}
	return "\nscreenshot: " + path
}

// fail reports a failed expectation with a screenshot.
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	b.t.Fatalf(format+"%s", append(args, b.screenshot())...)
}

func (b *browser) signIn(env *uiEnv) {
	b.t.Helper()
	b.do("open the UI",
		chromedp.Navigate(env.ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)))
	if loc := b.location(); !strings.Contains(loc, "/ui/login") {
		b.fail("signed out, / led to %s, want the sign-in page", loc)
	}
	b.do("sign in",
		chromedp.SendKeys(chromedp.CSS(`#email`), env.email),
		chromedp.SendKeys(chromedp.CSS(`#password`), env.password),
		chromedp.Click(chromedp.CSS(`form[action="/ui/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.nav`)))
}

func TestBrowserSignInTokenSignOut(t *testing.T) {
	env := newUIEnv(t)
	b := newBrowser(t)
	b.signIn(env)

	if h := b.text(`main h1`); h != "Dashboard" {
		b.fail("dashboard heading %q", h)
	}
	if a := b.text(`.account`); !strings.Contains(a, env.email) {
		b.fail("account box %q lacks %s", a, env.email)
	}
	if banner := b.text(`.banner.outbox`); !strings.Contains(banner, "captured in the outbox") {
		b.fail("outbox banner: %q", banner)
	}

	b.do("create a token",
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/settings"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#token-name`)),
		chromedp.SendKeys(chromedp.CSS(`#token-name`), "shop production"),
		chromedp.Click(chromedp.CSS(`form[action="/ui/settings/tokens"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-secret`)))
	secret := b.text(`#new-secret`)
	if _, err := env.accounts.Authenticate(context.Background(), secret); err != nil {
		b.fail("the token shown (%q) does not work: %v", secret, err)
	}

	b.do("switch to German",
		chromedp.Click(chromedp.CSS(`.account button[name=lang]`)),
		chromedp.WaitVisible(chromedp.CSS(`html[lang=de] main h1`)))
	if h := b.text(`main h1`); h != "Einstellungen" {
		b.fail("German settings heading = %q", h)
	}

	b.do("sign out",
		chromedp.Click(chromedp.CSS(`form[action="/ui/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.Navigate(env.ts.URL+"/ui/settings"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)))
	if loc := b.location(); !strings.Contains(loc, "/ui/login?next=") {
		b.fail("after sign-out /ui/settings led to %s", loc)
	}
}

// clearMarkdown empties the editor (chromedp's Clear handles only an
// untouched textarea); the typing that follows triggers the preview.
func (b *browser) clearMarkdown() {
	b.t.Helper()
	get(b, "clear the editor", chromedp.Evaluate[bool](`(document.querySelector('#c-markdown').value = '', true)`))
}

// waitPreview waits until the preview iframe's document contains want.
func (b *browser) waitPreview(want string) {
	b.t.Helper()
	js := `(() => { const f = document.querySelector('#preview iframe'); return !!f && f.srcdoc.includes(` + strconv.Quote(want) + `); })()`
	get(b, "preview shows "+want, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(stepTimeout-time.Second)))
}

func TestBrowserComposerPreview(t *testing.T) {
	env, eng, svc := newCampaignEnv(t)
	enroll(t, svc, "kim@example.com", "Kim Berger")
	b := newBrowser(t)
	b.signIn(env)

	b.do("open the composer",
		chromedp.Click(chromedp.CSS(`nav a[href="/ui/campaigns"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/campaigns/new"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/ui/campaigns/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#c-markdown`)))
	b.waitPreview("write your news here") // the starter text, rendered on load

	b.clearMarkdown()
	b.do("write",
		chromedp.SendKeys(chromedp.CSS(`#c-name`), "Frühling"),
		chromedp.SendKeys(chromedp.CSS(`#c-subject`), "Neu im Laden"),
		chromedp.SendKeys(chromedp.CSS(`#c-markdown`), "# Tulpen sind da\n\nHallo {{ .FirstName }}!"))
	b.waitPreview("Tulpen sind da")
	b.waitPreview("Hallo ")
	if s := b.text(`#preview-subject`); s != "Neu im Laden" {
		b.fail("preview subject %q", s)
	}

	b.do("keep typing", chromedp.SendKeys(chromedp.CSS(`#c-markdown`), "\n\n**Nur diese Woche**"))
	b.waitPreview("<strong>Nur diese Woche</strong>")

	b.do("break the template", chromedp.SendKeys(chromedp.CSS(`#c-markdown`), " {{ .Nope"))
	get(b, "template error shown", chromedp.Poll[bool](`!!document.querySelector('#preview .msg.err')`,
		chromedp.WithPollingTimeout(stepTimeout-time.Second)))
	b.clearMarkdown()
	b.do("fix it",
		chromedp.SendKeys(chromedp.CSS(`#c-markdown`), "# Tulpen sind da\n\n**Nur diese Woche**, {{ .FirstName }}."))
	b.waitPreview("Nur diese Woche")
	b.waitPreview(", Alex.") // the made-up customer

	// "Preview as" a real subscriber: their name fills the template; an
	// address nobody has says so instead of a blank.
	b.do("preview as Kim", chromedp.SendKeys(chromedp.CSS(`#c-preview-as`), "kim@example.com"))
	b.waitPreview(", Kim.")
	b.do("preview as nobody", chromedp.SendKeys(chromedp.CSS(`#c-preview-as`), "x"))
	get(b, "unknown subscriber said", chromedp.Poll[bool](`(() => { const e = document.querySelector('#preview .msg.err'); return !!e && e.textContent.includes('No subscriber'); })()`,
		chromedp.WithPollingTimeout(stepTimeout-time.Second)))
	b.eval("clear preview as", `document.querySelector('#c-preview-as').value = ''`)

	b.do("save",
		chromedp.Click(chromedp.CSS(`#composer button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.msg.ok`)))
	list, err := eng.List(context.Background(), campaigns.ListOptions{})
	if err != nil || len(list) != 1 || list[0].Subject != "Neu im Laden" || !strings.Contains(list[0].Markdown, "Nur diese Woche") {
		b.fail("saved: %+v %v", list, err)
	}
	if a := b.text(`#audience`); !strings.Contains(a, "1") {
		b.fail("audience %q", a)
	}
}
