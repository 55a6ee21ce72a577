package webhooks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/treu-mail/treu/store"
)

type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}

func newClient(cfg Config) *http.Client {
	d := &net.Dialer{Timeout: cfg.Timeout, Control: dialControl(cfg.AllowPrivate)}
	return &http.Client{
		Timeout:   cfg.Timeout,
		Transport: &http.Transport{DialContext: d.DialContext, Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute},
		// A redirect could lead anywhere, a private address included: the
		// receiver must answer at the URL it registered.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// backoff after the n-th failed attempt: 30 s doubling, at most 6 h.
func backoff(n int) time.Duration {
	d := 30 * time.Second << min(max(n-1, 0), 10)
	return min(d, 6*time.Hour)
}

type claimed struct {
	id, webhook              int64
	msgID, url, secret, body string
	attempts                 int
}

// ProcessDue sends the deliveries due now (the oldest pending one of each
// ordering key only) and records each outcome; it returns how many it
// claimed. Run loops over it; tests call it with a fake clock.
func (s *Service) ProcessDue(ctx context.Context) (int, error) {
	now := s.Now()
	var jobs []claimed
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE webhook_deliveries SET lease_owner = ?, next_attempt_at = ?, attempts = attempts + 1
			WHERE id IN (SELECT d.id FROM webhook_deliveries d
				WHERE d.status = 'pending' AND d.next_attempt_at <= ?
				AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.webhook_id = d.webhook_id
					AND p.ordering_key = d.ordering_key AND p.status = 'pending' AND p.id < d.id)
				ORDER BY d.next_attempt_at, d.id LIMIT 32)
			RETURNING id, webhook_id, message_id, payload, attempts,
				(SELECT url FROM webhooks w WHERE w.id = webhook_id), (SELECT secret FROM webhooks w WHERE w.id = webhook_id)`,
			s.cfg.Owner, now.Add(s.cfg.Lease).Unix(), now.Unix())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c claimed
			if err := rows.Scan(&c.id, &c.webhook, &c.msgID, &c.body, &c.attempts, &c.url, &c.secret); err != nil {
				return err
			}
			jobs = append(jobs, c)
		}
		return rows.Err()
	})
	if err != nil || len(jobs) == 0 {
		return 0, err
	}
	type result struct {
		code int
		err  error
	}
	res := make([]result, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { res[i].code, res[i].err = s.send(ctx, j, now) })
	}
	wg.Wait()
	err = s.db.Tx(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		for i, j := range jobs {
			r := res[i]
			var code any
			if r.code > 0 {
				code = r.code
			}
			var q string
			var args []any
			switch {
			case r.err == nil:
				q, args = `UPDATE webhook_deliveries SET status = 'sent', sent_at = ?, last_status = ?, last_error = '', lease_owner = NULL
					WHERE id = ? AND lease_owner = ?`, []any{now.Unix(), code, j.id, s.cfg.Owner}
			case j.attempts >= s.cfg.MaxAttempts:
				q, args = `UPDATE webhook_deliveries SET status = 'failed', last_status = ?, last_error = ?, lease_owner = NULL
					WHERE id = ? AND lease_owner = ?`, []any{code, r.err.Error(), j.id, s.cfg.Owner}
			default:
				q, args = `UPDATE webhook_deliveries SET next_attempt_at = ?, last_status = ?, last_error = ?, lease_owner = NULL
					WHERE id = ? AND lease_owner = ?`, []any{now.Add(backoff(j.attempts)).Unix(), code, r.err.Error(), j.id, s.cfg.Owner}
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return len(jobs), fmt.Errorf("webhooks: record deliveries: %w", err)
	}
	return len(jobs), nil
}

// send makes one signed POST; a 2xx is success.
func (s *Service) send(ctx context.Context, j claimed, now time.Time) (int, error) {
	sig, err := Sign(j.secret, j.msgID, now.Unix(), []byte(j.body))
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, bytes.NewReader([]byte(j.body)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Treu-Webhooks/1")
	req.Header.Set("webhook-id", j.msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// Run delivers until ctx ends, woken by Emit and at least every few seconds.
func (s *Service) Run(ctx context.Context) error {
	for {
		n, err := s.ProcessDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.log.Error("webhook round failed", slog.Any("error", err))
		}
		if n > 0 && err == nil {
			continue
		}
		t := time.NewTimer(5 * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}
