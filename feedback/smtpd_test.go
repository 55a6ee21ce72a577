package feedback

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/treu-mail/treu/subscribers"
)

// listen starts the bounce listener of e on a free loopback port.
func (e *env) listen(t testing.TB) string {
	t.Helper()
	e.fb.cfg.VERP = e.verp
	l, err := e.fb.NewListener("")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

// sendRaw delivers one mail over plain SMTP (the listener offers no TLS:
// it is meant for loopback or a relay on a private network).
func sendRaw(addr, from string, to []string, r *bytes.Reader) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := r.WriteTo(w); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func TestListenerDSNAndARF(t *testing.T) {
	e := newEnv(t)
	addr := e.listen(t)
	kim := e.active("kim@example.com")
	ana := e.active("ana@example.com")

	// A DSN to the VERP address of campaign 7's delivery 70 to Kim.
	verp := e.verp.Delivery(7, 70, kim.ID)
	if err := sendRaw(addr, "", []string{verp}, bytes.NewReader(fixture(t, "dsn_postfix.eml", verp))); err != nil {
		t.Fatal(err)
	}
	if got := e.status("kim@example.com"); got != subscribers.StatusBounced {
		t.Fatalf("after the DSN: status %q", got)
	}
	c, _ := e.fb.Campaign(e.ctx, 7)
	if c.Bounced != 1 || c.BouncedAfterSend != 1 {
		t.Fatalf("campaign 7: %+v", c)
	}
	// The same DSN again (a retry of the sender) counts once.
	if err := sendRaw(addr, "", []string{verp}, bytes.NewReader(fixture(t, "dsn_postfix.eml", verp))); err != nil {
		t.Fatal(err)
	}
	if bs, _ := e.fb.ForSubscriber(e.ctx, kim.ID); len(bs) != 1 {
		t.Fatalf("bounces after a repeated DSN: %d", len(bs))
	}

	// A complaint to the feedback address quotes Ana's VERP address.
	anaVERP := e.verp.Delivery(7, 71, ana.ID)
	if err := sendRaw(addr, "staff@hotmail.example", []string{"abuse@bounce.shop.example"},
		bytes.NewReader(fixture(t, "arf.eml", anaVERP))); err != nil {
		t.Fatal(err)
	}
	sub, _ := e.subs.Get(e.ctx, "ana@example.com")
	if sub.Status != subscribers.StatusComplained || sub.Lists[0].Status != subscribers.StatusUnsubscribed {
		t.Fatalf("after the ARF: %+v", sub)
	}
	if c, _ := e.fb.Campaign(e.ctx, 7); c.Complained != 1 {
		t.Fatalf("campaign 7: %+v", c)
	}

	// A free-text bounce counts only through a VERP address.
	lu := e.active("lu@example.com")
	if err := sendRaw(addr, "", []string{"postmaster@bounce.shop.example"},
		bytes.NewReader(fixture(t, "qmail.eml", "postmaster@bounce.shop.example"))); err != nil {
		t.Fatal(err)
	}
	if got := e.status("lu@example.com"); got != subscribers.StatusActive {
		t.Fatalf("an unsigned free-text bounce changed lu: %q", got)
	}
	luVERP := e.verp.Mail(5, lu.ID)
	if err := sendRaw(addr, "", []string{luVERP}, bytes.NewReader(fixture(t, "qmail.eml", luVERP))); err != nil {
		t.Fatal(err)
	}
	if got := e.status("lu@example.com"); got != subscribers.StatusBounced {
		t.Fatalf("after a VERP free-text bounce: %q", got)
	}

	// Nothing but the bounce domain: no relaying.
	err := sendRaw(addr, "", []string{"someone@example.org"}, bytes.NewReader([]byte("Subject: x\r\n\r\nhi\r\n")))
	if err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("relay attempt: %v", err)
	}
}

// BenchmarkIntake sends DSNs over TCP from 32 clients, each to a different
// subscriber's VERP address: bounce intake throughput end to end.
func BenchmarkIntake(b *testing.B) {
	e := newEnv(b)
	addr := e.listen(b)
	const people = 2000
	ids := make([]int64, people)
	for i := range ids {
		ids[i] = e.active(fmt.Sprintf("p%d@example.com", i)).ID
	}
	tmpl := fixture(b, "dsn_postfix.eml", "VERP_ADDRESS")
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			c, err := smtp.Dial(addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					c.Quit()
					return
				}
				p := i % people
				verp := e.verp.Delivery(9, i+1, ids[p])
				msg := bytes.ReplaceAll(bytes.ReplaceAll(tmpl, []byte("VERP_ADDRESS"), []byte(verp)), []byte("kim@example.com"), fmt.Appendf(nil, "p%d@example.com", p))
				msg = bytes.ReplaceAll(msg, []byte("ABC123@mx"), fmt.Appendf(nil, "m%d@mx", i))
				if err := c.Mail("", nil); err != nil {
					b.Error(err)
					return
				}
				if err := c.Rcpt(verp, nil); err != nil {
					b.Error(err)
					return
				}
				w, err := c.Data()
				if err != nil {
					b.Error(err)
					return
				}
				w.Write(msg)
				if err := w.Close(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "DSNs/s")
}
