package web

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
)

// Metrics is a small Prometheus text-format registry: a handful of counters
// and gauges do not need a client library and its dependency tree.
type Metrics struct {
	mu       sync.Mutex
	counters map[string]*atomic.Int64 // full series name with labels -> value
	help     map[string]string        // metric name -> HELP line
	gauges   []func(w io.Writer)      // collected at scrape time
}

// NewMetrics returns an empty registry.
func NewMetrics() *Metrics {
	return &Metrics{counters: map[string]*atomic.Int64{}, help: map[string]string{}}
}

// Counter returns the counter for name{labels}, creating it on first use.
// labels is preformatted, e.g. `code="200"`.
func (m *Metrics) Counter(name, help, labels string) *atomic.Int64 {
	key := name
	if labels != "" {
		key += "{" + labels + "}"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.counters[key]; ok {
		return c
	}
	c := new(atomic.Int64)
	m.counters[key] = c
	m.help[name] = help
	return c
}

// GaugeFunc adds a gauge whose values are read at scrape time; fn returns
// labels -> value.
func (m *Metrics) GaugeFunc(name, help string, fn func() map[string]float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gauges = append(m.gauges, func(w io.Writer) {
		vals := fn()
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "" {
				fmt.Fprintf(w, "%s %g\n", name, vals[k])
			} else {
				fmt.Fprintf(w, "%s{%s} %g\n", name, k, vals[k])
			}
		}
	})
}

// Write writes all series in the Prometheus text format. It renders into a
// buffer under the lock and writes after, so a slow scraper never holds up
// the requests that count themselves.
func (m *Metrics) Write(w io.Writer) {
	var buf bytes.Buffer
	m.write(&buf)
	w.Write(buf.Bytes())
}

func (m *Metrics) write(w io.Writer) {
	m.mu.Lock()
	keys := make([]string, 0, len(m.counters))
	for k := range m.counters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	written := map[string]bool{}
	for _, k := range keys {
		name := k
		for i, r := range k {
			if r == '{' {
				name = k[:i]
				break
			}
		}
		if !written[name] {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, m.help[name], name)
			written[name] = true
		}
		fmt.Fprintf(w, "%s %d\n", k, m.counters[k].Load())
	}
	gauges := append([]func(io.Writer){}, m.gauges...)
	m.mu.Unlock()
	for _, g := range gauges {
		g(w)
	}
}
