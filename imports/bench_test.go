package imports

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far: on a shared
// machine the CPU a row costs says more than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkImport: rows per second of a whole import (read, judge, write
// with consent rows), 20,000 rows of six columns per iteration.
//
//	go test ./imports -run '^$' -bench Import -benchtime 3x
func BenchmarkImport(b *testing.B) {
	const n = 20000
	file := gz(people(n, ";"))
	var total, cpu time.Duration
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
		t0, c0 := time.Now(), cpuTime()
		if err := e.svc.Run(e.ctx, j.ID); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
		cpu += cpuTime() - c0
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "rows/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/row")
}
