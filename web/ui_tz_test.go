package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestUISendAtInShopZone: the composer reads and shows send times as wall
// clock in the shop's zone (Europe/Berlin), on both sides of the DST changes;
// a time the clocks skip is a 422 naming send_at.
func TestUISendAtInShopZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	env, eng, _ := newCampaignEnvWith(t, nil, func(c *Config, _ *UIDeps) { c.Location = berlin })
	ctx := context.Background()
	env.db.Now = func() time.Time { return time.Date(2026, 3, 20, 11, 5, 0, 0, time.UTC) }
	c := env.client()
	c.signIn()

	mustContain(t, "settings", c.get("/ui/settings").Body, `<dd id="timezone">Europe/Berlin</dd>`)
	r := c.get("/ui/campaigns/new")
	mustContain(t, "composer", r.Body, "Send at (Europe/Berlin)",
		"In Europe/Berlin, not in your computer&#39;s time zone. It is now 2026-03-20 12:05 CET.",
		"weekday, in Europe/Berlin:")
	tok := c.csrfOf("/ui/campaigns/new")
	save := func(sendAt string) uiResp {
		return c.post("/ui/campaigns", url.Values{"csrf": {tok}, "name": {"Frühling"}, "subject": {"Frühling"},
			"lists": {"newsletter"}, "markdown": {"Hallo!"}, "send_at": {sendAt}})
	}
	for _, tc := range []struct {
		in    string
		want  time.Time // the instant stored
		shown string    // the composer's value after saving
		when  string    // how the campaign list shows it
	}{
		{"2026-03-28T09:00", time.Date(2026, 3, 28, 8, 0, 0, 0, time.UTC), "2026-03-28T09:00", "2026-03-28 09:00 CET"},
		{"2026-03-29T09:00", time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC), "2026-03-29T09:00", "2026-03-29 09:00 CEST"},
		{"2026-10-25T09:00:00", time.Date(2026, 10, 25, 8, 0, 0, 0, time.UTC), "2026-10-25T09:00", "2026-10-25 09:00 CET"},
		// 02:30 happens twice on 25 October: the first, still in summer time.
		{"2026-10-25T02:30", time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), "2026-10-25T02:30", "2026-10-25 02:30 CEST"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r := save(tc.in)
			if r.Status != http.StatusSeeOther {
				t.Fatalf("save: %d\n%s", r.Status, r.Body)
			}
			page := strings.TrimSuffix(r.Location, "?done=campaign-saved")
			cp, err := eng.Get(ctx, mustID(t, strings.TrimPrefix(page, "/ui/campaigns/")))
			if err != nil {
				t.Fatal(err)
			}
			if cp.SendAt == nil || !cp.SendAt.Equal(tc.want) {
				t.Fatalf("stored %v, want %v", cp.SendAt, tc.want)
			}
			mustContain(t, "composer", c.get(page).Body, `value="`+tc.shown+`"`)
			if _, err := eng.Start(ctx, cp.ID); err != nil {
				t.Fatal(err)
			}
			mustContain(t, "scheduled page", c.get(page).Body, "Send time: <strong>"+tc.when+"</strong>")
		})
	}
	r = save("2026-03-29T02:30")
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "2026-03-29 02:30 does not exist in Europe/Berlin") ||
		!strings.Contains(r.Body, `aria-invalid="true"`) {
		t.Fatalf("a skipped time: %d\n%s", r.Status, r.Body)
	}
}

func TestFormatWhenInZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 7, 1, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		lang string
		loc  *time.Location
		v    any
		want string
	}{
		{"en", berlin, at, "2026-07-01 09:00 CEST"},
		{"de", berlin, &at, "01.07.2026 09:00 CEST"},
		{"en", berlin, time.Date(2026, 1, 1, 7, 0, 0, 0, time.UTC).Unix(), "2026-01-01 08:00 CET"},
		{"en", nil, at, "2026-07-01 07:00 UTC"},
		{"en", berlin, (*time.Time)(nil), "–"},
		{"en", berlin, int64(0), "–"},
	} {
		if got := formatWhen(tc.lang, tc.loc, tc.v); got != tc.want {
			t.Errorf("formatWhen(%s, %v, %v) = %q, want %q", tc.lang, tc.loc, tc.v, got, tc.want)
		}
	}
}

func FuzzParseSendAt(f *testing.F) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"2026-03-29T02:30", "2026-10-25T02:30:00", "2026-05-01T09:00", "x", "2026-13-01T09:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSendAt(s, berlin)
		if err != nil {
			return
		}
		// An accepted time shows as what was typed (seconds aside).
		if w := got.In(berlin).Format(sendAtLayout); !strings.HasPrefix(s, w) {
			t.Fatalf("%q read as %s", s, w)
		}
	})
}

// TestUIDashboardGrowthInShopZone: the growth chart's days are the shop's
// days, across the spring DST change: 23:30 UTC on 29 March is 30 March in
// Berlin, and every date shows once.
func TestUIDashboardGrowthInShopZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	env, _, _ := newCampaignEnvWith(t, nil, func(c *Config, _ *UIDeps) { c.Location = berlin })
	env.db.Now = func() time.Time { return time.Date(2026, 4, 2, 10, 0, 0, 0, time.UTC) }
	ctx := context.Background()
	for i, at := range []time.Time{
		time.Date(2026, 3, 29, 23, 30, 0, 0, time.UTC), // 01:30 CEST on 30 March
		time.Date(2026, 3, 28, 22, 30, 0, 0, time.UTC), // 23:30 CET on 28 March
		time.Date(2026, 4, 1, 22, 30, 0, 0, time.UTC),  // 00:30 CEST on 2 April
	} {
		if _, err := env.db.Writer().ExecContext(ctx, `INSERT INTO subscribers (email, email_key, status, created_at, updated_at)
			VALUES (?1, ?1, 'active', ?2, ?2)`, "g"+itoa(int64(i))+"@example.com", at.Unix()); err != nil {
			t.Fatal(err)
		}
	}
	c := env.client()
	c.signIn()
	r := c.get("/ui/")
	mustContain(t, "dashboard", r.Body, "<title>Mar 30: 1</title>", "<title>Mar 29: 0</title>", "<title>Mar 28: 1</title>",
		"<title>Apr 2: 1</title>", "<title>Apr 1: 0</title>", "Mar 4 – Apr 2")
	for _, d := range []string{"Mar 28", "Mar 29", "Mar 30", "Mar 31"} {
		if n := strings.Count(r.Body, "<title>"+d+":"); n != 1 {
			t.Errorf("%s shows %d times", d, n)
		}
	}
}
