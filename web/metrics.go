package web

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// Metrics is what GET /metrics shows: a VictoriaMetrics set owned by one
// installation, not the library's global default set, so several servers in
// one process (tests) never share a series. The domain packages know nothing
// of it: cmd/treu hands them the callbacks Mails and Feedback return, and
// the histogram SMTPSend returns as a mailer.Latency.
type Metrics struct {
	set *metrics.Set

	mu     sync.Mutex
	gauges []gaugeReader // read at scrape time
}

type gaugeReader struct {
	help map[string]string                    // family -> HELP text
	read func() map[string]map[string]float64 // family -> labels -> value
}

func init() {
	// TYPE lines let Prometheus tell counters from gauges; the switch is
	// process-wide in the library, and Treu has no other set.
	metrics.ExposeMetadata(true)
}

// NewMetrics returns an empty registry.
func NewMetrics() *Metrics {
	m := &Metrics{set: metrics.NewSet()}
	m.set.RegisterMetricsWriter(m.writeGauges)
	return m
}

// Counter returns the counter name{labels}, creating it on first use.
// labels is preformatted, e.g. `code="2xx"`. Look it up once, not per event.
func (m *Metrics) Counter(name, labels string) *metrics.Counter {
	if labels != "" {
		name += "{" + labels + "}"
	}
	return m.set.GetOrCreateCounter(name)
}

// Mail results and kinds of treu_mails_total.
var (
	MailResults = []string{"sent", "retry", "failed", "skipped", "capped", "held"}
	// MailKinds: campaign deliveries, and the durable queue of single mails
	// (confirmations, flow steps, transactional mail).
	MailKinds = []string{"campaign", "queue"}
)

// Mails returns the callback that counts kind's mail by result in
// treu_mails_total{kind, result} (campaigns.Config.OnResult and
// mailer.QueueConfig.OnResult). Every series exists from the start, at 0,
// so a rate over it works before the first failure.
func (m *Metrics) Mails(kind string) func(result string, n int) {
	byResult := make(map[string]*metrics.Counter, len(MailResults)) // read-only once built
	for _, r := range MailResults {
		byResult[r] = m.Counter("treu_mails_total", fmt.Sprintf(`kind=%q,result=%q`, kind, r))
	}
	return func(result string, n int) {
		c, ok := byResult[result]
		if !ok { // a result added later: still counted
			c = m.Counter("treu_mails_total", fmt.Sprintf(`kind=%q,result=%q`, kind, result))
		}
		c.Add(n)
	}
}

// SMTPSend is the histogram of SMTP transaction durations,
// treu_smtp_send_seconds (VictoriaMetrics buckets: vmrange labels).
func (m *Metrics) SMTPSend() *metrics.Histogram {
	return m.set.GetOrCreateHistogram("treu_smtp_send_seconds")
}

// Feedback returns the callback that counts bounces and complaints as they
// are recorded (feedback.Config.OnReport takes it as func(feedback.Kind)):
// treu_bounces_total{kind="hard|soft"} and treu_complaints_total.
func (m *Metrics) Feedback() func(kind string) {
	hard := m.Counter("treu_bounces_total", `kind="hard"`)
	soft := m.Counter("treu_bounces_total", `kind="soft"`)
	complaints := m.Counter("treu_complaints_total", "")
	return func(kind string) {
		switch kind {
		case "hard":
			hard.Inc()
		case "soft":
			soft.Inc()
		case "complaint":
			complaints.Inc()
		}
	}
}

// GaugeFunc adds the gauge family name whose values read returns at scrape
// time, labels -> value (labels preformatted, "" for none).
func (m *Metrics) GaugeFunc(name, help string, read func() map[string]float64) {
	m.GaugeFuncs(map[string]string{name: help}, func() map[string]map[string]float64 {
		return map[string]map[string]float64{name: read()}
	})
}

// GaugeFuncs adds gauge families that one query reads together at scrape
// time: read returns family -> labels -> value, and help names every
// family read may return.
func (m *Metrics) GaugeFuncs(help map[string]string, read func() map[string]map[string]float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gauges = append(m.gauges, gaugeReader{help: help, read: read})
}

// writeGauges renders the gauge families with HELP and TYPE lines.
func (m *Metrics) writeGauges(w io.Writer) {
	m.mu.Lock()
	readers := append([]gaugeReader(nil), m.gauges...)
	m.mu.Unlock()
	var buf bytes.Buffer
	for _, g := range readers {
		families := g.read()
		for _, name := range slices.Sorted(maps.Keys(g.help)) {
			vals := families[name]
			fmt.Fprintf(&buf, "# HELP %s %s\n# TYPE %s gauge\n", name, g.help[name], name)
			for _, k := range slices.Sorted(maps.Keys(vals)) {
				if k == "" {
					fmt.Fprintf(&buf, "%s %g\n", name, vals[k])
				} else {
					fmt.Fprintf(&buf, "%s{%s} %g\n", name, k, vals[k])
				}
			}
		}
	}
	w.Write(buf.Bytes())
}

// Write writes every series in the Prometheus text format. The set renders
// into a buffer first, so a slow scraper holds up nobody.
func (m *Metrics) Write(w io.Writer) {
	m.set.WritePrometheus(w)
}
