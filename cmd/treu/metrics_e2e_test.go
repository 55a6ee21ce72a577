package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer/smtptest"
)

// scrape reads GET /metrics into series -> value, and checks that each
// family has at most one TYPE line (Prometheus rejects a page otherwise).
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics = %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	out := map[string]float64{}
	typed := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name := strings.Fields(f)[0]
			if typed[name] {
				t.Fatalf("family %s typed twice", name)
			}
			typed[name] = true
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsAfterSending sends a campaign and single mails over real SMTP,
// one address refused, and finds the results, the bounces and the SMTP
// latency on /metrics.
func TestMetricsAfterSending(t *testing.T) {
	smtpd := smtptest.Start(t)
	smtpd.SetReply(func(rcpt string) error {
		if strings.HasPrefix(rcpt, "gone") {
			return smtptest.Permanent
		}
		return nil
	})
	in := startTreu(t, nil, "--smtp-url", smtpd.URL(), "--from", "news@shop.example")

	consent := map[string]string{"text": "Newsletter: ja", "ip": "198.51.100.1", "source": "import"}
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com", "gone1@example.com"} {
		body := map[string]any{"email": email, "double_optin": false, "consent": consent}
		if st := in.do("POST", "/api/subscribers", body, nil); st != 201 {
			t.Fatalf("enroll %s = %d", email, st)
		}
	}
	var cp struct{ ID int64 }
	if st := in.do("POST", "/api/campaigns", map[string]any{"name": "m", "subject": "Hallo", "markdown": "Hallo",
		"lists": []string{"newsletter"}}, &cp); st != 201 {
		t.Fatalf("create campaign = %d", st)
	}
	if st := in.do("POST", fmt.Sprintf("/api/campaigns/%d/start", cp.ID), nil, nil); st != 200 {
		t.Fatalf("start = %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if st, err := in.app.campaigns.Wait(ctx, cp.ID, campaigns.Finished); err != nil {
		t.Fatalf("wait: %v (status %s)", err, st)
	}

	// Double opt-in: two confirmation mails through the queue, one refused.
	for _, email := range []string{"new@example.com", "gone2@example.com"} {
		body := map[string]any{"email": email, "consent": consent}
		if st := in.do("POST", "/api/subscribers", body, nil); st != 201 {
			t.Fatalf("enroll %s = %d", email, st)
		}
	}
	var m map[string]float64
	in.eventually("queue results on /metrics", func() bool {
		m = scrape(t, in.base)
		return m[`treu_mails_total{kind="queue",result="sent"}`]+m[`treu_mails_total{kind="queue",result="failed"}`] >= 2
	})

	want := map[string]float64{
		`treu_mails_total{kind="campaign",result="sent"}`:    3,
		`treu_mails_total{kind="campaign",result="failed"}`:  1,
		`treu_mails_total{kind="campaign",result="retry"}`:   0,
		`treu_mails_total{kind="campaign",result="skipped"}`: 0,
		`treu_mails_total{kind="queue",result="sent"}`:       1,
		`treu_mails_total{kind="queue",result="failed"}`:     1,
		`treu_bounces_total{kind="hard"}`:                    2, // both 5xx refusals
		`treu_bounces_total{kind="soft"}`:                    0,
		`treu_complaints_total`:                              0,
		`treu_mail_queue{status="queued"}`:                   0,
		`treu_mail_queue{status="sent"}`:                     1,
		`treu_mail_queue{status="failed"}`:                   1,
		`treu_mail_queue_oldest_seconds`:                     0,
		`treu_smtp_send_seconds_count`:                       6, // 4 campaign + 2 queue transactions
	}
	for series, v := range want {
		got, ok := m[series]
		if !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, v)
		}
	}
	sum := m["treu_smtp_send_seconds_sum"]
	if sum <= 0 || sum/m["treu_smtp_send_seconds_count"] > 5 {
		t.Errorf("SMTP latency sum %v s over %v sends: want a positive mean under 5 s", sum, m["treu_smtp_send_seconds_count"])
	}
	var buckets float64
	for series, v := range m {
		if strings.HasPrefix(series, `treu_smtp_send_seconds_bucket{vmrange="`) {
			buckets += v
		}
	}
	if buckets != m["treu_smtp_send_seconds_count"] {
		t.Errorf("histogram buckets hold %v sends, count says %v", buckets, m["treu_smtp_send_seconds_count"])
	}
	if m[`treu_http_requests_total{code="2xx"}`] < 6 || m[`treu_subscribers{status="active"}`] < 3 {
		t.Errorf("old series missing or wrong: http 2xx %v, active subscribers %v",
			m[`treu_http_requests_total{code="2xx"}`], m[`treu_subscribers{status="active"}`])
	}
}
