package campaigns

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store"
)

// TestCrashChild is the process TestKill9Resume kills: it sends whatever
// campaign is running in TREU_CRASH_DB to TREU_CRASH_SMTP until it is killed.
func TestCrashChild(t *testing.T) {
	path, addr := os.Getenv("TREU_CRASH_DB"), os.Getenv("TREU_CRASH_SMTP")
	if path == "" {
		t.Skip("run by TestKill9Resume")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	tr, err := mailer.NewSMTP(mailer.SMTPConfig{Host: host, Port: p, TLS: "none", MaxConns: 4}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	cfg := crashConfig("child")
	e := New(db, cfg, []Transport{tr}, fakeLinks{}, testLog())
	e.Run(ctx) // until SIGKILL
}

func crashConfig(owner string) Config {
	cfg := testConfig()
	cfg.Owner = owner
	cfg.Lease = 2 * time.Second
	return cfg
}

// kill -9 in the middle of a send; a new engine on the same database finishes
// it: everyone gets the mail, and only mails in flight at the kill go twice.
func TestKill9Resume(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	n, killAt := int64(5000), int64(1500)
	if raceEnabled { // same test, smaller: under -race the child sends ~10x slower
		n, killAt = 1500, 500
	}
	var (
		proc     atomic.Pointer[os.Process] // set before the child can send anything
		killOnce sync.Once
		killed   = make(chan struct{})
	)
	h := newHarness(t, crashConfig("parent"), func(s *sink) {
		s.onMessage = func(c int64) {
			if c >= killAt {
				killOnce.Do(func() {
					proc.Load().Kill() // SIGKILL: no cleanup, no last flush
					close(killed)
				})
			}
		}
	})
	ctx := context.Background()
	seed(t, h.db, activePeople(int(n)))
	c := mustCreate(t, h.e, Input{Subject: "Hi {{ .Name }}", Markdown: "Hallo {{ .FirstName }}"})
	if _, err := h.e.Start(ctx, c.ID); err != nil { // the audience is snapshotted here
		t.Fatal(err)
	}

	child := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	child.Env = append(os.Environ(), "TREU_CRASH_DB="+h.db.Path(), "TREU_CRASH_SMTP="+h.snk.addr)
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	proc.Store(child.Process)
	waited := make(chan error, 1)
	go func() { waited <- child.Wait() }()
	select {
	case <-killed:
	case err := <-waited:
		t.Fatalf("child ended before the kill: %v", err)
	case <-time.After(60 * time.Second):
		child.Process.Kill()
		t.Fatal("child sent too slowly")
	}
	<-waited
	before := h.deliveryCounts(t, c.ID)
	t.Logf("at the kill: sink %d, deliveries %v", h.snk.count.Load(), before)
	if before["pending"] == 0 || before["sent"] == 0 {
		t.Fatalf("the kill should come mid-send: %v", before)
	}

	h.run(t) // a fresh engine: it picks the running campaign up by itself
	if st := h.wait(t, c.ID); st != Finished {
		t.Fatalf("status %s", st)
	}
	got := h.snk.received()
	dups := 0
	for i := range n {
		k := len(got[fmt.Sprintf("kunde%d@example.com", i)])
		if k == 0 {
			t.Fatalf("kunde%d never got the mail", i)
		}
		dups += k - 1
	}
	// In flight at the kill: claimed and handed to the server but not yet
	// recorded. The child held at most maxInflight claims.
	bound := New(h.db, crashConfig("x"), []Transport{nil}, nil, nil).maxInflight
	t.Logf("duplicates after kill -9: %d (bound %d)", dups, bound)
	if dups > bound {
		t.Fatalf("%d duplicates, more than the %d that can be in flight", dups, bound)
	}
	s, _ := h.e.Stats(ctx, c.ID)
	if s.Sent != n {
		t.Fatalf("stats %+v", s)
	}
}
