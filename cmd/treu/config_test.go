package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/mailer/smtptest"
)

// TestTimezoneWired: --timezone reaches the campaign engine through the
// config (a recurring campaign's next run is Monday 09:00 Berlin time), and
// the API still answers in RFC 3339 with an offset.
func TestTimezoneWired(t *testing.T) {
	in := startTreu(t, map[string]string{"TREU_TIMEZONE": "Europe/Berlin"})
	var cp struct {
		ID        int64  `json:"id"`
		Status    string `json:"status"`
		NextRunAt string `json:"next_run_at"`
	}
	if st := in.do("POST", "/api/campaigns", `{"name":"Weekly","subject":"Weekly","markdown":"x","cron":"0 9 * * MON"}`, &cp); st != 201 {
		t.Fatalf("create = %d", st)
	}
	if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/start", cp.ID), nil, &cp); st != 200 || cp.Status != "scheduled" {
		t.Fatalf("start = %d %+v", st, cp)
	}
	next, err := time.Parse(time.RFC3339, cp.NextRunAt)
	if err != nil {
		t.Fatalf("next_run_at %q is not RFC 3339: %v", cp.NextRunAt, err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if b := next.In(berlin); b.Weekday() != time.Monday || b.Hour() != 9 || b.Minute() != 0 {
		t.Fatalf("next run %s is %s in Berlin, want Monday 09:00", cp.NextRunAt, b)
	}
	if in.app.cfg.Location.String() != "Europe/Berlin" {
		t.Fatalf("location %v", in.app.cfg.Location)
	}
}

func TestTimezoneSetting(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"", "Europe/Berlin", ""}, // the default
		{"America/New_York", "America/New_York", ""},
		{"UTC", "UTC", ""},
		{"Europe/Berlinn", "", "--timezone"},
		{"Local", "", "--timezone"},
		{"../../etc/passwd", "", "--timezone"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var cfg config
			args := []string{}
			if tc.in != "" {
				args = append(args, "--timezone", tc.in)
			}
			if err := parseFlags(newFlagSet("serve", &cfg), args, func(string) string { return "" }); err != nil {
				t.Fatal(err)
			}
			err := cfg.validate()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil || cfg.Location.String() != tc.want {
				t.Fatalf("location %v, err %v", cfg.Location, err)
			}
		})
	}
}

// TestFromWithName: --from takes "Name <address>"; the confirmation mail goes
// out with that name and address.
func TestFromWithName(t *testing.T) {
	smtpd := smtptest.Start(t)
	in := startTreu(t, map[string]string{"TREU_FROM": "Laden am Eck <news@shop.example>"}, "--smtp-url", smtpd.URL())
	if st := in.do("POST", "/api/subscribers", `{"email":"kim@example.com"}`, nil); st != 201 {
		t.Fatalf("enroll = %d", st)
	}
	m := parse(t, smtpd.WaitFor(1, 20*time.Second)[0])
	if from := m.Header.Get("From"); from != `"Laden am Eck" <news@shop.example>` && from != "Laden am Eck <news@shop.example>" {
		t.Fatalf("From: %q", from)
	}

	for _, tc := range []struct{ from, name, wantFrom, wantName string }{
		{"news@shop.example", "", "news@shop.example", "Treu Shop"},
		{"Laden am Eck <news@shop.example>", "", "news@shop.example", "Laden am Eck"},
		{`"Müller & Söhne" <news@shop.example>`, "", "news@shop.example", "Müller & Söhne"},
		{"Laden am Eck <news@shop.example>", "Anna vom Laden", "news@shop.example", "Anna vom Laden"},
		{"<news@shop.example>", "", "news@shop.example", "Treu Shop"},
	} {
		var cfg config
		args := []string{"--from", tc.from}
		if tc.name != "" {
			args = append(args, "--from-name", tc.name)
		}
		if err := parseFlags(newFlagSet("serve", &cfg), args, func(string) string { return "" }); err != nil {
			t.Fatal(err)
		}
		if err := cfg.validate(); err != nil || cfg.From != tc.wantFrom || cfg.FromName != tc.wantName {
			t.Errorf("--from %q --from-name %q: from %q name %q err %v", tc.from, tc.name, cfg.From, cfg.FromName, err)
		}
	}
}

// TestServeRefusesBadSettings: every invalid setting stops serve before it
// creates anything, with an error naming the flag (or its variable).
func TestServeRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"timezone", []string{"--timezone", "Mars/Olympus"}, nil, "--timezone"},
		{"timezone env", nil, map[string]string{"TREU_TIMEZONE": "Berlin"}, "--timezone"},
		{"from without address", []string{"--from", "Laden am Eck"}, nil, "--from"},
		{"from two addresses", []string{"--from", "a@shop.example, b@shop.example"}, nil, "--from"},
		{"from with a line break", []string{"--from", "Shop\r\nBcc: x@evil.example <news@shop.example>"}, nil, "--from"},
		{"from-name with a line break", []string{"--from-name", "Shop\nBcc: x@evil.example"}, nil, "--from-name"},
		{"base-url without scheme", []string{"--base-url", "news.shop.example"}, nil, "--base-url"},
		{"base-url ftp", []string{"--base-url", "ftp://news.shop.example"}, nil, "--base-url"},
		{"base-url with query", []string{"--base-url", "https://news.shop.example/?x=1"}, nil, "--base-url"},
		{"smtp-url scheme", []string{"--smtp-url", "http://mail.example:587"}, nil, "--smtp-url"},
		{"smtp-url second server", []string{"--smtp-url", "smtp://a.example:587 smtp://b.example:587?tls=maybe"}, nil, "--smtp-url (server 2)"},
		{"smtp-url max_conns", []string{"--smtp-url", "smtp://u:secretpw@a.example:587?max_conns=0"}, nil, "--smtp-url"},
		{"flow-tick unparsable", []string{"--flow-tick", "soon"}, nil, "flow-tick"},
		{"flow-tick env unparsable", nil, map[string]string{"TREU_FLOW_TICK": "soon"}, "TREU_FLOW_TICK"},
		{"flow-tick too short", []string{"--flow-tick", "10ms"}, nil, "--flow-tick"},
		{"pending-ttl too long", []string{"--pending-ttl", "720h"}, nil, "--pending-ttl"},
		{"pending-ttl negative", []string{"--pending-ttl", "-1h"}, nil, "--pending-ttl"},
		{"queue-workers", []string{"--queue-workers", "0"}, nil, "--queue-workers"},
		{"listen", []string{"--listen", "8080"}, nil, "--listen"},
		{"log-level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"log-format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"dkim-key missing", []string{"--dkim-key", "/nonexistent/dkim.pem"}, nil, "--dkim-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			getenv := func(k string) string { return tc.env[k] }
			args := append([]string{"--data", data, "--listen", "127.0.0.1:0"}, tc.args...)
			if tc.name == "listen" {
				args = append([]string{"--data", data}, tc.args...)
			}
			err := serve(context.Background(), args, getenv, io.Discard, io.Discard, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Fatalf("the error shows the SMTP password: %v", err)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Fatalf("the data folder was created before the settings were checked (%v)", err)
			}
		})
	}
}

// TestContactSettings: the contact policy flags and their TREU_* variables
// make the policy, in the shop's zone; a bad value names its flag.
func TestContactSettings(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		env     map[string]string
		day     int
		week    int
		quiet   string
		errFlag string
	}{
		{nil, nil, 1, 3, "21:00-08:00", ""}, // the defaults
		{[]string{"--contact-per-day", "0", "--contact-per-week", "0", "--quiet-hours", "off"}, nil, 0, 0, "off", ""},
		{nil, map[string]string{"TREU_CONTACT_PER_DAY": "2", "TREU_CONTACT_PER_WEEK": "5", "TREU_QUIET_HOURS": "22:30-07:15"}, 2, 5, "22:30-07:15", ""},
		{[]string{"--quiet-hours", "9-17"}, nil, 0, 0, "", "--quiet-hours"},
		{[]string{"--quiet-hours", "08:00-08:00"}, nil, 0, 0, "", "--quiet-hours"},
		{[]string{"--contact-per-day", "-1"}, nil, 0, 0, "", "--contact-per-day"},
		{[]string{"--contact-per-day", "3", "--contact-per-week", "2"}, nil, 0, 0, "", "--contact-per-week"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var cfg config
			if err := parseFlags(newFlagSet("serve", &cfg), tc.args, func(k string) string { return tc.env[k] }); err != nil {
				t.Fatal(err)
			}
			err := cfg.validate()
			if tc.errFlag != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errFlag) {
					t.Fatalf("err = %v, want one naming %s", err, tc.errFlag)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := cfg.Contact
			if tc.day == 0 && tc.week == 0 && tc.quiet == "off" {
				if p != nil {
					t.Fatalf("all off, yet a policy: %+v", p)
				}
				return
			}
			if p.PerDay != tc.day || p.PerWeek != tc.week || p.QuietString() != tc.quiet || p.Location.String() != "Europe/Berlin" {
				t.Fatalf("policy %+v %s", p, p.QuietString())
			}
		})
	}
}
