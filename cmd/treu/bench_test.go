package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkEnrollHTTP enrolls through the real HTTP stack (Echo, token auth,
// validation, the SQLite write with its confirmation mail queued) with 32
// concurrent clients (TREU_BENCH_CLIENTS; 8 is the goal's figure), and
// reports enrollments per second and the p99 latency.
//
//	go test ./cmd/treu -run '^$' -bench EnrollHTTP -benchtime 20000x
//	TREU_BENCH_CLIENTS=8 go test ./cmd/treu -run '^$' -bench EnrollHTTP -benchtime 10000x
func BenchmarkEnrollHTTP(b *testing.B) {
	in := startTreu(b, nil)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	clients := 32
	if n, err := strconv.Atoi(os.Getenv("TREU_BENCH_CLIENTS")); err == nil && n > 0 {
		clients = n
	}
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				body := fmt.Sprintf(`{"email":"bench%d@example.com","name":"Bench %d","locale":"de","consent":{"text":"Ja","ip":"203.0.113.9","source":"bench"}}`, i, i)
				req, _ := http.NewRequest("POST", in.base+"/api/subscribers", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+in.token)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[c] = append(lat[c], time.Since(t0))
				if resp.StatusCode != 201 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99_ms")
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50_ms")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "enroll/s")
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d enrollments failed", f)
	}
}
