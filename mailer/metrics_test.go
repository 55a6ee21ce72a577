package mailer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/treu-mail/treu/mailer/smtptest"
)

// results collects OnResult calls.
type results struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *results) add(result string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[result] += n
}

func (r *results) get(result string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[result]
}

func TestQueueReportsResultsAndOldestAge(t *testing.T) {
	var res results
	e := newQueueEnv(t, QueueConfig{OnResult: res.add, MaxAttempts: 2})
	e.enqueue(t, queued("tx", "ok@example.org"))
	e.enqueue(t, queued("tx", "gone@example.org"))
	e.enqueue(t, queued("tx", "slow@example.org"))
	e.clock.Add(90 * time.Second)
	s, err := e.q.Stats(context.Background())
	if err != nil || s.Queued != 3 || s.OldestQueued != 90*time.Second {
		t.Fatalf("before sending: %+v, %v", s, err)
	}
	e.srv.SetReply(func(rcpt string) error {
		switch rcpt {
		case "gone@example.org":
			return smtptest.Permanent
		case "slow@example.org":
			return smtptest.Temporary
		}
		return nil
	})
	e.process(t)
	if res.get("sent") != 1 || res.get("failed") != 1 || res.get("retry") != 1 {
		t.Fatalf("after round 1: %v", res.n)
	}
	e.clock.Add(time.Hour)
	e.process(t) // the second temporary failure is the last attempt
	if res.get("retry") != 1 || res.get("failed") != 2 {
		t.Fatalf("after round 2: %v", res.n)
	}
	if s, _ := e.q.Stats(context.Background()); s.Queued != 0 || s.OldestQueued != 0 {
		t.Fatalf("empty queue: %+v", s)
	}
}

// latency counts observations.
type latency struct {
	mu sync.Mutex
	n  int
	d  time.Duration
}

func (l *latency) UpdateDuration(start time.Time) {
	l.mu.Lock()
	l.n++
	l.d += time.Since(start)
	l.mu.Unlock()
}

func TestSMTPObservesLatency(t *testing.T) {
	srv := smtptest.Start(t)
	cfg, err := ParseSMTPURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	var l latency
	cfg.Latency = &l
	s, err := NewSMTP(cfg, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv.SetReply(func(rcpt string) error {
		if rcpt == "gone@example.org" {
			return smtptest.Permanent
		}
		return nil
	})
	for _, to := range []string{"a@example.org", "b@example.org", "gone@example.org"} {
		_ = s.Send(context.Background(), msgTo(to))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n != 3 || l.d <= 0 {
		t.Fatalf("observed %d sends taking %v; want 3, > 0", l.n, l.d)
	}
}
