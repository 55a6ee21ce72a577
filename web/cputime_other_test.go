//go:build !unix

package web

import "testing"

type cpuTimer struct{}

func startCPU() cpuTimer           { return cpuTimer{} }
func (cpuTimer) report(*testing.B) {}
