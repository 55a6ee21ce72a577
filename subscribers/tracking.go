package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// Tracking consent (TDDDG § 25): opens and clicks may be tied to a person
// only with a consent of its own, given and withdrawn apart from the
// newsletter's. It is one flag on the subscriber (subscribers.tracking), and
// every change is a row in the consent log like any other: tracking_on with
// the text the person agreed to, tracking_off with the channel.
const (
	ActionTrackingOn  = "tracking_on"
	ActionTrackingOff = "tracking_off"
)

// TrackingAllowed reports whether subscriber id allows per-person tracking
// now; an unknown (erased) subscriber does not. Package tracking asks at every
// click and open, so a withdrawal takes effect for mails sent before it.
func (s *Service) TrackingAllowed(ctx context.Context, id int64) (bool, error) {
	var on bool
	err := s.db.QueryRowContext(ctx, `SELECT tracking FROM subscribers WHERE id = ?`, id).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("subscribers: tracking consent of %d: %w", id, err)
	}
	return on, nil
}

// validateTracking checks the tracking part of an enrollment: "tracking":
// true needs the consent text the person saw ("tracking_text").
func validateTracking(in EnrollInput) (string, error) {
	if !in.Tracking {
		return "", nil
	}
	text, err := cleanText("tracking_text", in.TrackingText, maxConsentText, true)
	if err == nil && text == "" {
		err = errs.Invalidf("tracking_text", "tracking true needs tracking_text, the consent text the person agreed to")
	}
	return text, err
}

// enrollTracking records the tracking consent of an enrollment in its
// transaction; nothing when it was not asked for or is on already.
func (s *Service) enrollTracking(ctx context.Context, tx *store.Tx, j *enrollJob) error {
	e := j.e
	if !e.tracking || j.sub.ID == 0 {
		return nil
	}
	c := e.consentRow(ActionTrackingOn, "")
	c.text = e.trackingText
	changed, err := s.setTracking(ctx, tx, j.sub.ID, true, c)
	if err == nil && changed {
		j.sub.Tracking = true
	}
	return err
}

// setTracking turns tracking consent on or off and logs the change; it
// reports whether anything changed.
func (s *Service) setTracking(ctx context.Context, tx *store.Tx, id int64, on bool, c consentRow) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE subscribers SET tracking = ?, updated_at = ? WHERE id = ? AND tracking <> ?`,
		on, tx.Now.Unix(), id, on)
	if err != nil {
		return false, fmt.Errorf("subscribers: tracking consent of %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	c.action = ActionTrackingOff
	if on {
		c.action = ActionTrackingOn
	}
	return true, s.addConsents(ctx, tx, id, c)
}

// TrackingText is the tracking consent text the preferences page shows, in
// German or English; turning the box on agrees to it (and is logged with it).
func TrackingText(locale string) string {
	if locale == "de" {
		return "Ich bin einverstanden, dass Öffnungen und Klicks in den E-Mails mir zugeordnet werden, um die Angebote für mich zu verbessern. Ich kann das jederzeit hier abschalten."
	}
	return "I agree that opens and clicks in the emails are tied to me, to improve the offers I get. I can switch this off here at any time."
}
