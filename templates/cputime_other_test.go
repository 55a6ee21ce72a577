//go:build !unix

package templates

import "testing"

type cpuTimer struct{}

func startCPU() cpuTimer           { return cpuTimer{} }
func (cpuTimer) report(*testing.B) {}
