// Command treubench measures a campaign send through the real engine: a temp
// database with N subscribers, a personalised ~3 KB Markdown campaign, the
// audience snapshot, the claim/render/send/record workers and the mailer's
// SMTP pool, against an SMTP server (--smtp) or an in-process counting sink.
//
//	go run ./cmd/treubench -n 100000 --json
//
// With -seed-only it only seeds a kept database for the page benchmarks
// (scripts/bench_pages.sh) and exits:
//
//	go run ./cmd/treubench -seed-only -subscribers 1000000 -data /tmp/pages1m
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/treu-mail/treu/campaigns"
	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
	"github.com/treu-mail/treu/templates"
)

type report struct {
	Subscribers int     `json:"subscribers"`
	Partial     bool    `json:"partial,omitempty"`
	MsgsPerSec  float64 `json:"msgs_per_sec"`
	SnapshotMS  int64   `json:"snapshot_ms"`
	PeakRSSMB   float64 `json:"peak_rss_mb"`
	Failed      int64   `json:"failed"`
	Sent        int64   `json:"sent"`
	SendSeconds float64 `json:"send_seconds"`
	SeedSeconds float64 `json:"seed_seconds"`
	SeedRSSMB   float64 `json:"seed_peak_rss_mb"` // the seeding's own peak, before the reset
	// CPUMicrosPerMsg is this process's user+system CPU from Start (the
	// snapshot included) to the last recorded result, per mail sent.
	CPUMicrosPerMsg float64 `json:"cpu_us_per_msg"`
	// ReadsPerMsg and WritesPerMsg are this process's read and write system
	// calls (sockets and SQLite's files, /proc/self/io) per mail sent: unlike
	// time, they do not move with the machine's load.
	ReadsPerMsg  float64 `json:"reads_per_msg"`
	WritesPerMsg float64 `json:"writes_per_msg"`
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "treubench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("treubench", flag.ContinueOnError)
	n := fs.Int("n", 100000, "subscribers")
	smtpAddr := fs.String("smtp", "", "SMTP server host:port (default: an in-process counting sink)")
	conns := fs.Int("conns", 8, "SMTP connections (the pool's max_conns)")
	batch := fs.Int("batch", 500, "deliveries claimed and recorded per transaction")
	asJSON := fs.Bool("json", false, "print one JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the send to this file")
	keep := fs.Bool("keep", false, "keep the temp database")
	verbose := fs.Bool("v", false, "log the engine")
	limit := fs.Duration("for", 0, "stop sending after this long and report the partial send (e.g. for RSS at 1M)")
	poolOnly := fs.Bool("pool-only", false, "baseline: send one fixed message n times through the pool, without the engine")
	fs.IntVar(n, "subscribers", 100000, "the same as -n")
	seedOnly := fs.Bool("seed-only", false, "only seed a database in -data for the page benchmarks (scripts/bench_pages.sh), and exit")
	dataDir := fs.String("data", "", "with -seed-only: the folder for treu.db (as treu serve --data)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *seedOnly {
		return seedOnlyRun(ctx, *dataDir, *n, stdout)
	}

	dir, err := os.MkdirTemp("", "treubench-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	db, err := store.Open(ctx, filepath.Join(dir, "treu.db"))
	if err != nil {
		return err
	}
	defer db.Close()

	t0 := time.Now()
	if err := seed(ctx, db, *n); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	seedDur := time.Since(t0)
	seedPeak := peakRSSMB()
	if *verbose {
		fmt.Fprintf(os.Stderr, "after seeding: peak RSS %.1f MB\n", seedPeak)
	}
	runtime.GC()
	resetPeakRSS()

	addr := *smtpAddr
	var received *atomic.Int64
	if addr == "" {
		sk, err := startSink()
		if err != nil {
			return err
		}
		defer sk.Close()
		addr, received = sk.Addr(), &sk.received
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--smtp: %w", err)
	}
	port, _ := strconv.Atoi(portStr)

	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	pool, err := mailer.NewSMTP(mailer.SMTPConfig{Host: host, Port: port, TLS: "none", MaxConns: *conns, HELO: "bench.localhost"}, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	if *poolOnly {
		return poolBaseline(ctx, pool, *n, *conns, stdout)
	}
	links, err := subscribers.New(db, nil, subscribers.Config{BaseURL: "https://news.shop.example",
		From: "news@shop.example", ShopName: "Beispiel-Shop", Secret: []byte("bench-secret-0123456789abcdef")}, log)
	if err != nil {
		return err
	}
	eng := campaigns.New(db, campaigns.Config{
		From: "news@shop.example", FromName: "Beispiel-Shop", BaseURL: "https://news.shop.example",
		BatchSize: *batch, Conns: *conns,
		Footer: func(context.Context) (templates.Footer, error) {
			return templates.Footer{ShopName: "Beispiel-Shop GmbH",
				Impressum: "Beispiel-Shop GmbH\nMusterstraße 1\n10115 Berlin\nHRB 12345 B, AG Charlottenburg\nUSt-IdNr. DE123456789"}, nil
		},
	}, []campaigns.Transport{pool}, links, log)

	c, err := eng.Create(ctx, campaigns.Input{Name: "Bench", Subject: "{{ .FirstName }}, unser Herbst-Angebot für {{ .Attr \"city\" }}", Markdown: markdown})
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx) }()

	t1 := time.Now()
	cpu0 := cpuTime()
	r0, w0 := ioCalls()
	c, err = eng.Start(ctx, c.ID) // snapshots the audience
	if err != nil {
		stop()
		return err
	}
	snapshot := time.Since(t1)
	if *verbose {
		fmt.Fprintf(os.Stderr, "after snapshot: peak RSS %.1f MB\n", peakRSSMB())
	}
	if *verbose {
		go func() {
			for range time.Tick(5 * time.Second) {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				st, _ := eng.Stats(ctx, c.ID)
				fmt.Fprintf(os.Stderr, "sent %d: rss %.1f MB (peak %.1f), go heap %.1f MB, go sys %.1f MB\n",
					st.Sent, rssMB("VmRSS:"), peakRSSMB(), float64(ms.HeapAlloc)/(1<<20), float64(ms.Sys)/(1<<20))
			}
		}()
	}
	waitCtx, cancelWait := context.WithCancel(ctx)
	if *limit > 0 {
		waitCtx, cancelWait = context.WithTimeout(ctx, *limit)
	}
	_, err = eng.Wait(waitCtx, c.ID)
	cancelWait()
	partial := false
	if err != nil && *limit > 0 && ctx.Err() == nil {
		partial = true
		if _, err := eng.Pause(ctx, c.ID); err != nil {
			stop()
			return err
		}
	} else if err != nil {
		stop()
		return err
	}
	sendDur := time.Since(t1)
	cpuDur := cpuTime() - cpu0
	r1, w1 := ioCalls()
	stop()
	if err := <-done; err != nil {
		return err
	}
	st, err := eng.Stats(ctx, c.ID)
	if err != nil {
		return err
	}
	if !partial && st.Sent+st.Failed != int64(*n) {
		return fmt.Errorf("sent %d + failed %d != %d subscribers", st.Sent, st.Failed, *n)
	}
	if !partial && *smtpAddr == "" && received.Load() != st.Sent {
		return fmt.Errorf("sink received %d, engine recorded %d sent", received.Load(), st.Sent)
	}
	r := report{
		Subscribers: *n,
		Partial:     partial,
		MsgsPerSec:  float64(int(float64(st.Sent)/sendDur.Seconds()*10)) / 10,
		SnapshotMS:  snapshot.Milliseconds(),
		PeakRSSMB:   peakRSSMB(),
		Failed:      st.Failed,
		Sent:        st.Sent,
		SendSeconds: float64(sendDur.Milliseconds()) / 1000,
		SeedSeconds: float64(seedDur.Milliseconds()) / 1000,
		SeedRSSMB:   seedPeak,
	}
	if st.Sent > 0 {
		r.CPUMicrosPerMsg = float64(int(float64(cpuDur.Microseconds())/float64(st.Sent)*10)) / 10
		r.ReadsPerMsg = float64(int(float64(r1-r0)/float64(st.Sent)*100)) / 100
		r.WritesPerMsg = float64(int(float64(w1-w0)/float64(st.Sent)*100)) / 100
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	if partial {
		fmt.Fprintf(stdout, "partial: stopped after %s (--for)\n", *limit)
	}
	fmt.Fprintf(stdout, "subscribers   %d\nmsgs/s        %.0f\ncpu_us/msg    %.1f\nsnapshot_ms   %d\npeak_rss_mb   %.1f\nfailed        %d\n(sent %d in %.2fs; seeding took %.2fs)\n",
		r.Subscribers, r.MsgsPerSec, r.CPUMicrosPerMsg, r.SnapshotMS, r.PeakRSSMB, r.Failed, r.Sent, r.SendSeconds, r.SeedSeconds)
	return nil
}

// poolBaseline measures the mailer pool alone, for comparison with the engine.
func poolBaseline(ctx context.Context, pool *mailer.SMTP, n, conns int, stdout io.Writer) error {
	tmpl, err := templates.Compile(templates.Source{Subject: "Hallo", Markdown: markdown})
	if err != nil {
		return err
	}
	out, err := tmpl.Render(&templates.Data{Email: "kunde@example.com", Name: "Anna Muster"})
	if err != nil {
		return err
	}
	m := &mailer.Message{From: "news@shop.example", To: "kunde@example.com", Subject: "Hallo", Text: out.Text, HTML: out.HTML,
		ListID: "newsletter.shop.example", UnsubscribeURL: "https://shop.example/unsubscribe/abc", Headers: map[string]string{"X-Treu-Campaign": "1"}}
	fmt.Fprintln(stdout, "html bytes", len(out.HTML), "text bytes", len(out.Text))
	var next atomic.Int64
	t0 := time.Now()
	errc := make(chan error, conns)
	for range conns {
		go func() {
			for next.Add(1) <= int64(n) {
				if err := pool.Send(ctx, m); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range conns {
		if err := <-errc; err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "pool only: %d msgs in %s = %.0f msgs/s\n", n, time.Since(t0), float64(n)/time.Since(t0).Seconds())
	return nil
}

// seed inserts n active subscribers on the newsletter list, set-based inside
// SQLite, 50,000 per transaction so that seeding a million holds no more
// dirty pages than a normal import would.
func seed(ctx context.Context, db *store.DB, n int) error {
	const chunk = 50_000
	for from := 1; from <= n; from += chunk {
		to := min(from+chunk-1, n)
		err := db.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
				INSERT INTO subscribers (email, email_key, name, locale, attributes, status, created_at, updated_at, confirmed_at, order_count, order_total)
				SELECT 'kunde' || i || '@example.com', 'kunde' || i || '@example.com',
					CASE i % 4 WHEN 0 THEN 'Anna' WHEN 1 THEN 'Jörg' WHEN 2 THEN 'Zoë' ELSE 'Max' END || ' Muster' || i,
					CASE WHEN i % 3 = 0 THEN 'en' ELSE 'de' END,
					json_object('city', CASE i % 5 WHEN 0 THEN 'Berlin' WHEN 1 THEN 'Köln' WHEN 2 THEN 'München' WHEN 3 THEN 'Hamburg' ELSE 'Leipzig' END,
						'vip', json(CASE WHEN i % 10 = 0 THEN 'true' ELSE 'false' END)),
					'active', 1700000000 + i, 1700000000 + i, 1700000000 + i, i % 7, (i % 500) * 1.5
				FROM seq`, from, to)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
				SELECT id, (SELECT id FROM lists WHERE slug = 'newsletter'), 'active', created_at, created_at
				FROM subscribers WHERE id BETWEEN ? AND ?`, from, to)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// cpuTime is the user+system CPU this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ioCalls returns the read and write system calls this process has made
// (Linux /proc/self/io syscr and syscw; 0 elsewhere).
func ioCalls() (reads, writes int64) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			reads, _ = strconv.ParseInt(v, 10, 64)
		} else if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			writes, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return reads, writes
}

// resetPeakRSS starts VmHWM afresh (Linux: clear_refs 5), so the figure is
// the send's and not the seeding's.
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSSMB reads the resident set's high-water mark (VmHWM) of this process.
func peakRSSMB() float64 { return rssMB("VmHWM:") }

func rssMB(key string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return float64(int(kb/1024*10)) / 10
		}
	}
	return -1
}

// markdown is a realistic newsletter of about 3 KB with personalisation.
const markdown = `# Hallo {{ .FirstName }}, der Herbst ist da!

Liebe Kundin, lieber Kunde aus **{{ .Attr "city" | default "Deutschland" }}**,

die Tage werden kürzer, die Abende gemütlicher – und bei uns gibt es jetzt die
neue Herbstkollektion. Als Abonnentin oder Abonnent unseres Newsletters erfahren
Sie als Erste(r) davon, und Sie bekommen bis Sonntag **15 % Rabatt** auf alles.

## Unsere Empfehlungen für Sie

1. **Wollpullover „Nordlicht“** – aus 100 % Merinowolle, in fünf Farben.
   Fair produziert in Portugal. [Jetzt ansehen](https://shop.example/p/nordlicht)
2. **Regenjacke „Elbe“** – wasserdicht, atmungsaktiv und mit recyceltem Futter.
   [Zur Jacke](https://shop.example/p/elbe)
3. **Thermobecher „Kaffeepause“** – hält Ihren Kaffee sechs Stunden warm.
   [Mehr erfahren](https://shop.example/p/kaffeepause)
4. **Kuscheldecke „Sofa-Tag“** – 150 × 200 cm, maschinenwaschbar.
   [Zur Decke](https://shop.example/p/sofa-tag)

## So einfach geht's

* Code **HERBST15** im Warenkorb eingeben
* Gilt bis Sonntag, 23:59 Uhr, für alle Artikel außer Gutscheinen
* Versand innerhalb Deutschlands ab 49 € kostenlos
* 30 Tage Rückgaberecht, auch im Sale

> „Die Qualität ist super, und der Versand war blitzschnell. Gerne wieder!“
> – Sabine aus Leipzig

## Neu im Blog

Wie pflegt man Merinowolle richtig? Unsere Expertin Katrin erklärt in fünf
Schritten, wie Ihr Lieblingspullover jahrelang schön bleibt – ohne Chemie und
mit wenig Aufwand. [Zum Artikel](https://shop.example/blog/merino-pflege)

Außerdem: Die besten Herbstspaziergänge rund um {{ .Attr "city" | default "Ihre Stadt" }}
– von unseren Kundinnen und Kunden empfohlen. Schreiben Sie uns Ihren Tipp!

| Artikel        | Preis   | Herbstpreis |
|----------------|---------|-------------|
| Nordlicht      | 89,00 € | 75,65 €     |
| Elbe           | 149,00 €| 126,65 €    |
| Kaffeepause    | 24,90 € | 21,17 €     |
| Sofa-Tag       | 59,00 € | 50,15 €     |

Haben Sie Fragen? Antworten Sie einfach auf diese E-Mail – bei uns liest ein
Mensch mit, und wir melden uns innerhalb eines Werktags.

Herzliche Grüße aus Berlin
Ihr Team vom Beispiel-Shop

---

Sie erhalten diese E-Mail an {{ .Email }}, weil Sie unseren Newsletter abonniert haben.
[Einstellungen ändern]({{ .PreferencesURL }}) · [Abmelden]({{ .UnsubscribeURL }})
`
