package web

import (
	"html/template"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
)

// The satisfaction survey's customer pages: the eleven links of an NPS mail
// (GET /nps/{token}/{0..10}) record the score at once and thank the customer
// with a comment box (POST /nps/{token}). The token is signed by
// retention.SurveyLinks; like the other customer pages there is no cookie.
//
// The click is the answer, as the issue asks: a link scanner that follows
// every link records scores too, but the last click within 24 hours of the
// first wins, so the customer's own click afterwards corrects it.

type npsData struct {
	pubData
	Commented bool
}

func (s *Server) npsRoutes(p *publicPages) {
	p.pages["nps"] = template.Must(template.New("layout.html").ParseFS(publicViews,
		"views/public/layout.html", "views/public/nps.html"))
	s.echo.GET("/nps/:token/:score", func(c echo.Context) error { return s.npsAnswer(c, p) })
	s.echo.POST("/nps/:token", func(c echo.Context) error { return s.npsComment(c, p) })
}

// npsSubject checks the token and returns the subscriber's page language.
func (s *Server) npsSubject(c echo.Context, p *publicPages) (id int64, survey, lang string, err error) {
	if s.retention == nil || s.retention.Links == nil || s.subs == nil {
		return 0, "", "", errs.NotFoundf("no survey")
	}
	id, survey, err = s.retention.Links.Parse(c.Param("token"))
	if err != nil {
		return 0, "", "", err
	}
	sub, err := s.subs.Get(c.Request().Context(), strconv.FormatInt(id, 10))
	if err != nil {
		return 0, "", "", err // erased since the mail: the link is dead
	}
	return id, survey, pageLang(c, sub.Locale), nil
}

// npsAnswer: GET /nps/:token/:score records the score and thanks.
func (s *Server) npsAnswer(c echo.Context, p *publicPages) error {
	id, survey, lang, err := s.npsSubject(c, p)
	if err != nil {
		return p.linkError(c, err)
	}
	score, err := strconv.Atoi(c.Param("score"))
	if err != nil || score < 0 || score > 10 || c.Param("score") != strconv.Itoa(score) {
		return p.linkError(c, errs.NotFoundf("no such score"))
	}
	if err := s.retention.Answer(c.Request().Context(), id, survey, score); err != nil {
		return err
	}
	d := npsData{pubData: p.data(lang, "nps_title")}
	d.Token = c.Param("token")
	d.Msg = d.T["nps_thanks"]
	return p.render(c, http.StatusOK, "nps", d)
}

// npsComment: POST /nps/:token stores the comment box.
func (s *Server) npsComment(c echo.Context, p *publicPages) error {
	limitForm(c)
	id, survey, lang, err := s.npsSubject(c, p)
	if err != nil {
		return p.linkError(c, err)
	}
	if err := s.retention.Comment(c.Request().Context(), id, survey, c.FormValue("comment")); err != nil {
		if errs.Is(err, errs.NotFound) {
			return p.linkError(c, err)
		}
		return err
	}
	d := npsData{pubData: p.data(lang, "nps_title"), Commented: true}
	d.Token = c.Param("token")
	d.Msg = d.T["nps_comment_thanks"]
	return p.render(c, http.StatusOK, "nps", d)
}

// The survey's strings, merged into pubStrings at start.
var npsStrings = map[string]map[string]string{
	"de": {
		"nps_title":          "Danke für Ihre Bewertung",
		"nps_thanks":         "Vielen Dank! Ihre Bewertung ist gespeichert. Haben Sie sich verklickt? Ein anderer Link aus der E-Mail ändert sie innerhalb von 24 Stunden.",
		"nps_comment_label":  "Möchten Sie uns noch etwas sagen?",
		"nps_comment_hint":   "Freiwillig. Wir lesen jeden Kommentar.",
		"nps_comment_button": "Kommentar senden",
		"nps_comment_thanks": "Danke für Ihren Kommentar! Sie können dieses Fenster jetzt schließen.",
	},
	"en": {
		"nps_title":          "Thank you for your rating",
		"nps_thanks":         "Thank you! Your rating is saved. Clicked the wrong number? Another link from the email changes it within 24 hours.",
		"nps_comment_label":  "Anything else you would like to tell us?",
		"nps_comment_hint":   "Optional. We read every comment.",
		"nps_comment_button": "Send comment",
		"nps_comment_thanks": "Thank you for your comment! You can close this window now.",
	},
}

func init() {
	for lang, m := range npsStrings {
		for k, v := range m {
			if _, ok := pubStrings[lang][k]; !ok {
				pubStrings[lang][k] = v
			}
		}
	}
}
