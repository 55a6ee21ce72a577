//go:build !unix

package campaigns

import "testing"

type cpuTimer struct{}

func startCPU() cpuTimer           { return cpuTimer{} }
func (cpuTimer) report(*testing.B) {}
