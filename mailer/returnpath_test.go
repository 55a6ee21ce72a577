package mailer

import (
	"context"
	"strconv"
	"testing"

	"github.com/treu-mail/treu/mailer/smtptest"
	"github.com/treu-mail/treu/store"
)

// The envelope sender is the return path where one is set, on both the
// pipelined and the plain transaction; the From header stays.
func TestReturnPathIsMailFrom(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run("pipelining="+strconv.FormatBool(pipelining), func(t *testing.T) {
			srv := smtptest.Start(t)
			if !pipelining {
				srv.HidePipelining()
			}
			s := newTestSMTP(t, srv, "")
			m := testMessage()
			m.ReturnPath = "bounces+abc123@bounce.shop.example"
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			m2 := testMessage()
			if err := s.Send(context.Background(), m2); err != nil {
				t.Fatal(err)
			}
			got := srv.Messages()
			if len(got) != 2 || got[0].From != m.ReturnPath || got[1].From != m2.From {
				t.Fatalf("envelope senders %q, %q", got[0].From, got[1].From)
			}
			p, err := ParseMessage(got[0].Data)
			if err != nil || p.From != `"Schöner Laden" <news@shop.example>` && p.From != "Schöner Laden <news@shop.example>" {
				t.Fatalf("From header %q %v", p.From, err)
			}
		})
	}
	m := testMessage()
	m.ReturnPath = "bounces+x@b.example\r\nRCPT TO:<victim@example.com>"
	if err := m.Validate(); err == nil {
		t.Fatal("a return path with CRLF passed Validate")
	}
}

// The queue gives each mail its return path when it sends it, and reports a
// 5xx refusal inside the transaction that records it.
func TestQueueReturnPathAndRefusal(t *testing.T) {
	var refused []Refusal
	e := newQueueEnv(t, QueueConfig{
		ReturnPath: func(mailID, sub int64) string {
			return "bounces+q" + strconv.FormatInt(mailID, 10) + "s" + strconv.FormatInt(sub, 10) + "@bounce.example"
		},
		OnRefused: func(ctx context.Context, tx *store.Tx, r Refusal) error {
			refused = append(refused, r)
			return nil
		},
	})
	e.srv.SetReply(func(rcpt string) error {
		if rcpt == "gone@example.org" {
			return smtptest.Permanent
		}
		return nil
	})
	ok := queued("flow", "kim@example.org")
	ok.SubscriberID = 0
	okID := e.enqueue(t, ok)
	bad := queued("confirm", "gone@example.org")
	badID := e.enqueue(t, bad)
	e.process(t)
	got := e.srv.Messages()
	if len(got) != 1 || got[0].From != "bounces+q"+strconv.FormatInt(okID, 10)+"s0@bounce.example" {
		t.Fatalf("delivered %+v", got)
	}
	if len(refused) != 1 || refused[0].MailID != badID || refused[0].Code != 550 || refused[0].Recipient != "gone@example.org" {
		t.Fatalf("refusals %+v", refused)
	}
	if r := e.row(t, badID); r.status != "failed" {
		t.Fatalf("refused mail %+v", r)
	}
}
