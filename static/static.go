// Package static holds the browser UI's assets (CSS, a little JS, vendored
// htmx), embedded in the binary so a Treu install is one file.
package static

import "embed"

// FS holds the assets at their paths below static/, e.g. "ui.css" and
// "vendor/htmx-2.0.11.min.js". Go files and the vendor notes are left out.
//
//go:embed *.css *.js vendor/*.js vendor/htmx-LICENSE
var FS embed.FS
