package templates

import (
	"errors"
	"strings"
	"testing"

	"github.com/treu-mail/treu/internal/errs"
)

func TestLayoutSanitised(t *testing.T) {
	body := func(s string) string { return "<html><body>\n" + s + "\n{{ content }}</body></html>" }
	for _, tc := range []struct{ name, layout, msg string }{
		{"script", body(`<script>alert(1)</script>`), "line 2: <script> is not allowed"},
		{"script upper", body(`<SCRIPT src="https://x.example/a.js"></SCRIPT>`), "<script>"},
		{"handler", body(`<img src="a.png" onerror="alert(1)">`), "line 2: the event handler onerror="},
		{"handler on body", `<body onLoad="x()">{{ content }}</body>`, "onload="},
		{"javascript href", body(`<a href="javascript:alert(1)">x</a>`), "javascript: URLs"},
		{"javascript hidden", body("<a href=\" JaVa\tScRiPt:alert(1)\">x</a>"), "javascript: URLs"},
		{"javascript after action", body(`<a href="javascript:{{ .Name }}">x</a>`), "javascript: URLs"},
		{"vbscript", body(`<a href="vbscript:x">x</a>`), "vbscript: URLs"},
		{"data html", body(`<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>`), "data: URLs"},
		{"svg", body(`<svg><a href="x">x</a></svg>`), "<svg>"},
		{"iframe", body(`<iframe src="https://x.example"></iframe>`), "<iframe>"},
		{"form", body(`<form action="https://x.example"><input name="a"></form>`), "<form>"},
		{"meta refresh", `<html><head><meta http-equiv="Refresh" content="0;url=https://x.example"></head><body>{{ content }}</body></html>`, "refresh"},
		{"css expression", `<html><head><style>p { width: expression(alert(1)); }</style></head><body>{{ content }}</body></html>`, `"expression" in CSS`},
		{"css url", body(`<div style="background: url('java\script:x')">x</div>`), "style= on <div>"},
		{"multi-line action keeps lines", "<html><body>\n{{ if\n.Name }}x{{ end }}\n<script></script>{{ content }}</body></html>", "line 4:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateLayout(tc.layout)
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid || e.Field != "layout" || !strings.Contains(e.Msg, tc.msg) {
				t.Fatalf("got %v, want a layout error containing %q", err, tc.msg)
			}
			if _, err := Compile(Source{Subject: "s", Markdown: "x", Layout: tc.layout, Footer: footer}); err == nil {
				t.Fatal("Compile accepted it")
			}
		})
	}
	for _, ok := range []string{
		DefaultLayout(),
		body(`<a href="{{ .Attr "url" }}" title="{{ .Name | default "a>b" }}">x</a>`),
		body(`<a href="mailto:info@shop.example">m</a> <a href="tel:+4930123">t</a> <a href="/rel?x=1:2">r</a>`),
		body(`<img src="data:image/png;base64,iVBORw0KGgo=" alt="">`),
		body(`<p>javascript: is only text here, and so is onload="x"</p>`),
		`<html><head><link rel="stylesheet" href="https://fonts.example/css"><style>a { color: red; }</style></head><body>{{ content }}</body></html>`,
	} {
		if err := ValidateLayout(ok); err != nil {
			t.Errorf("refused a harmless layout: %v\n%s", err, ok)
		}
	}
}

func FuzzValidateLayout(f *testing.F) {
	f.Add(DefaultLayout())
	f.Add(`<a href="java&#x09;script:x">{{ content }}</a>`)
	f.Add(`<style>{{ content }}</style>`)
	f.Add("<body>{{ if .Coupon }}</body>{{ end }}{{ content }}{{ footer }}")
	f.Fuzz(func(t *testing.T, layout string) {
		err := ValidateLayout(layout)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.Invalid {
				t.Fatalf("error is not errs.Invalid: %v", err)
			}
			return
		}
		if _, err := Compile(Source{Subject: "s", Markdown: "x", Layout: layout, Footer: footer}); err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.Invalid {
				t.Fatalf("Compile error is not errs.Invalid: %v", err)
			}
		}
	})
}
