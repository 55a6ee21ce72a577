package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/mailer"
	"github.com/treu-mail/treu/store/storetest"
	"github.com/treu-mail/treu/templates"
	"github.com/treu-mail/treu/txmail"
)

// newTxServer serves the transactional routes as routes.go registers them,
// without the token check (tested with the other /api routes).
func newTxServer(t *testing.T) (*Server, *mailer.Queue) {
	t.Helper()
	db := storetest.Open(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := mailer.NewQueue(db, nil, log, mailer.QueueConfig{})
	svc, err := txmail.New(db, q, txmail.Config{From: "shop@shop.example",
		Footer: templates.Footer{ShopName: "Beispiel-Shop", Impressum: "Beispiel GmbH\nHauptstraße 1"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{echo: echo.New(), db: db, log: log, now: db.Now}
	s.echo.HTTPErrorHandler = s.errorHandler
	tx := txAPI{svc: svc}
	api := s.echo.Group("/api")
	api.POST("/tx", tx.send)
	api.GET("/tx-templates", tx.listTemplates)
	api.GET("/tx-templates/:slug", tx.getTemplate)
	api.PUT("/tx-templates/:slug", tx.putTemplate)
	api.DELETE("/tx-templates/:slug", tx.deleteTemplate)
	return s, q
}

func doJSON(t *testing.T, s *Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var out map[string]any
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", method, path, w.Code, w.Body.String())
		}
	}
	return w.Code, out
}

func TestTxAPI(t *testing.T) {
	s, _ := newTxServer(t)
	tpl := `{"name": "Lieferverzögerung", "locales": {
		"de": {"subject": "Bestellung {{ .Attr \"order_id\" }} verzögert sich", "markdown": "Hallo {{ .FirstName }},\n\nBestellung {{ .Attr \"order_id\" }} kommt später."},
		"en": {"subject": "Order {{ .Attr \"order_id\" }} is delayed", "markdown": "Hello,\n\norder {{ .Attr \"order_id\" }} arrives later."}}}`
	if code, out := doJSON(t, s, "PUT", "/api/tx-templates/delayed", tpl); code != 201 || out["slug"] != "delayed" {
		t.Fatalf("create: %d %v", code, out)
	}
	if code, _ := doJSON(t, s, "PUT", "/api/tx-templates/delayed", tpl); code != 200 {
		t.Fatalf("replace: %d", code)
	}
	code, out := doJSON(t, s, "PUT", "/api/tx-templates/broken",
		`{"locales": {"de": {"subject": "s", "markdown": "Hallo\n\n{{ .Bestellung }}"}}}`)
	if code != 422 || out["field"] != "locales.de.markdown" || !strings.Contains(out["error"].(string), "line 3") {
		t.Fatalf("template error: %d %v", code, out)
	}
	if code, out := doJSON(t, s, "GET", "/api/tx-templates", ""); code != 200 || len(out["templates"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, out)
	}
	if code, out := doJSON(t, s, "GET", "/api/tx-templates/delayed", ""); code != 200 || out["name"] != "Lieferverzögerung" {
		t.Fatalf("get: %d %v", code, out)
	}

	code, out = doJSON(t, s, "POST", "/api/tx", `{"template": "delayed", "email": "kim@example.com", "data": {"order_id": "A-1"}}`)
	if code != 202 || out["id"] == nil {
		t.Fatalf("send: %d %v", code, out)
	}

	for _, tc := range []struct{ name, body, field string }{
		{"unknown template", `{"template": "nope", "email": "kim@example.com"}`, "template"},
		{"bad email", `{"template": "delayed", "email": "kim@@example.com"}`, "email"},
		{"data not an object", `{"template": "delayed", "email": "kim@example.com", "data": [1]}`, "data"},
		{"template not a string", `{"template": 5, "email": "kim@example.com"}`, "template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := doJSON(t, s, "POST", "/api/tx", tc.body); code != 422 || out["field"] != tc.field {
				t.Fatalf("%d %v, want 422 naming %s", code, out, tc.field)
			}
		})
	}
	if code, _ := doJSON(t, s, "POST", "/api/tx", `{"template": `); code != 400 {
		t.Fatalf("malformed: %d", code)
	}

	if code, _ := doJSON(t, s, "DELETE", "/api/tx-templates/delayed", ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := doJSON(t, s, "GET", "/api/tx-templates/delayed", ""); code != 404 {
		t.Fatalf("get deleted: %d", code)
	}
}
