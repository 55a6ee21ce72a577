package retention

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/treu-mail/treu/internal/errs"
)

// SurveyLinks signs the NPS links of a mail: one token per subscriber and
// survey, and eleven URLs BASE/nps/TOKEN/0 to /10. The score is not signed:
// any of the eleven is a valid answer; the token proves who answers what.
type SurveyLinks struct {
	key  []byte
	base string
}

// NewSurveyLinks derives its own key from the installation's secret, so the
// same secret can sign other links without one standing in for another.
func NewSurveyLinks(secret []byte, baseURL string) *SurveyLinks {
	d := hmac.New(sha256.New, secret)
	d.Write([]byte("treu nps links v1"))
	return &SurveyLinks{key: d.Sum(nil), base: strings.TrimRight(baseURL, "/")}
}

const (
	linkMAC       = 16
	maxSurveyLen  = 200
	surveyIDBytes = 8
)

func (l *SurveyLinks) mac(body []byte) []byte {
	h := hmac.New(sha256.New, l.key)
	h.Write(body)
	return h.Sum(nil)[:linkMAC]
}

// Token signs subscriber id and survey (an order id, or "").
func (l *SurveyLinks) Token(subscriberID int64, survey string) string {
	body := binary.BigEndian.AppendUint64(make([]byte, 0, surveyIDBytes+len(survey)+linkMAC), uint64(subscriberID))
	body = append(body, survey...)
	return base64.RawURLEncoding.EncodeToString(append(body, l.mac(body)...))
}

// Parse checks a token and returns what it signs. A bad token is
// errs.NotFound: the page does not say what was wrong.
func (l *SurveyLinks) Parse(tok string) (int64, string, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok) // one spelling per token
	if err != nil || len(raw) < surveyIDBytes+linkMAC || len(raw) > surveyIDBytes+maxSurveyLen+linkMAC {
		return 0, "", errs.NotFoundf("this link is not valid")
	}
	body, mac := raw[:len(raw)-linkMAC], raw[len(raw)-linkMAC:]
	if !hmac.Equal(mac, l.mac(body)) {
		return 0, "", errs.NotFoundf("this link is not valid")
	}
	id := int64(binary.BigEndian.Uint64(body))
	if id <= 0 {
		return 0, "", errs.NotFoundf("this link is not valid")
	}
	return id, string(body[surveyIDBytes:]), nil
}

// URL returns the base of the answer links: URL + "/0" … URL + "/10" are
// the eleven of URLs ({{ .SurveyURL }} in flow mails).
func (l *SurveyLinks) URL(subscriberID int64, survey string) string {
	return l.base + "/nps/" + l.Token(subscriberID, survey)
}

// URLs returns the eleven answer links, for scores 0 to 10.
func (l *SurveyLinks) URLs(subscriberID int64, survey string) []string {
	tok := l.Token(subscriberID, survey)
	out := make([]string, 11)
	for i := range out {
		out[i] = l.base + "/nps/" + tok + "/" + strconv.Itoa(i)
	}
	return out
}
