//go:build unix

package campaigns

import (
	"syscall"
	"testing"
)

// cpuTimer reports the process's CPU time per op ("cpu-ns/op"), which
// unlike ns/op stays meaningful on a machine busy with other work.
type cpuTimer struct{ start int64 }

func cpuNow() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func startCPU() cpuTimer { return cpuTimer{cpuNow()} }

func (c cpuTimer) report(b *testing.B) {
	if b.N > 0 && c.start > 0 {
		b.ReportMetric(float64(cpuNow()-c.start)/float64(b.N), "cpu-ns/op")
	}
}
