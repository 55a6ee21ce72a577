package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/mailer"
)

// uiOutbox is what the UI reads of the captured mail (*mailer.Outbox).
type uiOutbox interface {
	List(ctx context.Context, limit int, beforeID int64) ([]mailer.OutboxMail, error)
	Get(ctx context.Context, id int64) (*mailer.OutboxMessage, error)
}

const outboxPage = 50

type outboxData struct {
	Mails []mailer.OutboxMail
	// Next is the id to page on from ("older"), 0 on the last page.
	Next   int64
	Paging bool // not on the first page
}

func (u *ui) outboxList(c echo.Context) error {
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	var d outboxData
	if u.outbox != nil {
		// One more than a page tells whether there is a next page without a COUNT.
		mails, err := u.outbox.List(c.Request().Context(), outboxPage+1, before)
		if err != nil {
			return err
		}
		if len(mails) > outboxPage {
			mails = mails[:outboxPage]
			d.Next = mails[len(mails)-1].ID
		}
		d.Mails = mails
	}
	d.Paging = before > 0
	return u.render(c, http.StatusOK, "outbox", uiPage{Title: "Outbox", Nav: "outbox", Data: d})
}

type outboxMailData struct {
	Mail *mailer.OutboxMessage
	// Headers worth checking before a real send, in this order.
	Headers [][2]string
}

// outboxMail shows one captured mail as the recipient would see it: the HTML
// part in an iframe with an empty sandbox (no scripts, no forms, no top
// navigation, an opaque origin) and the text part as text.
func (u *ui) outboxMail(c echo.Context) error {
	m, err := u.outboxMessage(c)
	if err != nil {
		return err
	}
	d := outboxMailData{Mail: m}
	for _, h := range []string{"From", "To", "Reply-To", "Subject", "Date", "Message-Id", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"} {
		if v := m.Parsed.Header.Get(h); v != "" {
			if h == "Subject" || h == "From" || h == "To" {
				v = map[string]string{"Subject": m.Parsed.Subject, "From": m.Parsed.From, "To": m.Parsed.To}[h]
			}
			d.Headers = append(d.Headers, [2]string{h, v})
		}
	}
	return u.render(c, http.StatusOK, "outboxmail", uiPage{Title: "Outbox", Nav: "outbox", Data: d})
}

// outboxRaw downloads the mail as an .eml file, to open in a real mail client.
func (u *ui) outboxRaw(c echo.Context) error {
	m, err := u.outboxMessage(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="treu-outbox-`+strconv.FormatInt(m.ID, 10)+`.eml"`)
	return c.Blob(http.StatusOK, "message/rfc822", m.Raw)
}

func (u *ui) outboxMessage(c echo.Context) (*mailer.OutboxMessage, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || u.outbox == nil {
		return nil, errs.NotFoundf("no such mail")
	}
	return u.outbox.Get(c.Request().Context(), id)
}
