package imports

import (
	"testing"
	"time"
)

// BenchmarkImport: rows per second of a whole import (read, judge, write
// with consent rows), 20,000 rows of six columns per iteration.
//
//	go test ./imports -run '^$' -bench Import -benchtime 3x
func BenchmarkImport(b *testing.B) {
	const n = 20000
	file := gz(people(n, ";"))
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b)
		j := e.upload("people.csv.gz", file)
		j, err := e.svc.Check(e.ctx, j.ID, 1, settingsFor(j))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.svc.Start(e.ctx, j.ID, 1); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := e.svc.Run(e.ctx, j.ID); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "rows/s")
}
