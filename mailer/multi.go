package mailer

import (
	"context"
	"errors"
	"sync/atomic"
)

// Multi spreads mail over several transports (e.g. SMTP servers) in turn and
// moves on to the next when one cannot be reached.
type Multi struct {
	ts   []Transport
	next atomic.Uint64
}

// NewMulti spreads over ts; at least one.
func NewMulti(ts ...Transport) *Multi { return &Multi{ts: ts} }

// Send tries the transports round-robin. Only an unreachable server (no
// reply, or 421 closing) sends the mail to the next one: a 4xx or 5xx answer
// about this mail would be the same elsewhere, and trying again elsewhere
// could deliver it twice.
func (mt *Multi) Send(ctx context.Context, m *Message) error {
	n := uint64(len(mt.ts))
	start := mt.next.Add(1)
	var err error
	for i := range n {
		err = mt.ts[(start+i)%n].Send(ctx, m)
		var se *SendError
		if err == nil || !errors.As(err, &se) || !se.Temporary || (se.Code != 0 && se.Code != 421) {
			return err
		}
	}
	return err
}
