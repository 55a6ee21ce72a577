package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
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
