package campaigns

import (
	"errors"
	"fmt"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer"
)

// isTemporary: an SMTP 4xx, or no answer at all (connection refused, reset,
// timeout): the recipient may well be fine, so the delivery is retried. A
// message the mailer refuses to build (a malformed address) is permanent.
func isTemporary(err error) bool {
	var se *mailer.SendError
	if errors.As(err, &se) {
		return se.Temporary
	}
	return !errs.Is(err, errs.Invalid) && !errs.Is(err, errs.Malformed)
}

// reply is what is kept of a failure: the SMTP server's reply where there was one.
func reply(err error) string {
	var se *mailer.SendError
	if errors.As(err, &se) && se.Reply != "" {
		if se.Code != 0 {
			return truncate(fmt.Sprintf("%d %s", se.Code, se.Reply))
		}
		return truncate(se.Reply)
	}
	return truncate(err.Error())
}

func truncate(s string) string {
	if len(s) > 1000 {
		return s[:1000]
	}
	return s
}
