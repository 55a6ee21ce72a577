package web

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// errorPage is deliberately self-contained: it must render even when the
// thing that failed was the page templates.
var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1f2328}h1{font-size:1.4rem}</style>
</head><body><main><h1>{{.Title}}</h1><p>{{.Msg}}</p></main></body></html>`))

// renderErrorPage answers a browser with a short page in German or English.
func (s *Server) renderErrorPage(c echo.Context, status int, msg string) error {
	lang := acceptLang(c.Request())
	title := http.StatusText(status)
	if status >= 500 {
		msg = map[string]string{"de": "Etwas ist schiefgelaufen. Bitte versuchen Sie es später noch einmal.",
			"en": "Something went wrong. Please try again later."}[lang]
	}
	if lang == "de" {
		switch status {
		case http.StatusNotFound:
			title = "Nicht gefunden"
		case http.StatusTooManyRequests:
			title = "Zu viele Anfragen"
		case http.StatusBadRequest, http.StatusUnprocessableEntity:
			title = "Ungültige Anfrage"
		case http.StatusInternalServerError:
			title = "Fehler"
		}
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return errorPage.Execute(c.Response(), map[string]string{"Lang": lang, "Title": title, "Msg": msg})
}

// acceptLang picks "de" or "en" from the Accept-Language header, by first mention.
func acceptLang(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "de"):
			return "de"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return "en"
}
