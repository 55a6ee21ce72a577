package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
)

// maxBody is the largest JSON body the API reads (1 MiB).
const maxBody = 1 << 20

// bindJSON decodes the request body into v. Unknown fields are ignored so shops
// may send more than we read (shapes grow); a field of the wrong type is a 422
// naming it; anything that is not one JSON value is a 400.
func bindJSON(c echo.Context, v any) error {
	r := c.Request()
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return errs.Malformedf("", "Content-Type must be application/json")
	}
	body := http.MaxBytesReader(c.Response(), r.Body, maxBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(maxBody)
		}
		return errs.Malformedf("", "body must hold exactly one JSON value")
	}
	return nil
}

func tooLarge(limit int64) error {
	return &errs.Error{Kind: errs.TooLarge, Msg: fmt.Sprintf("body larger than %d bytes", limit)}
}

func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return tooLarge(maxBody)
	case errors.As(err, &typ):
		field := jsonPath(typ.Field)
		if field == "" {
			return errs.Malformedf("", "body must be a JSON object")
		}
		return errs.Invalidf(field, "%s must be %s", field, article(typ.Type.Kind().String()))
	case errors.As(err, &syn):
		return errs.Malformedf("", "malformed JSON at byte %d", syn.Offset)
	case errors.Is(err, io.EOF):
		return errs.Malformedf("", "empty body; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Malformedf("", "malformed JSON: unexpected end")
	default:
		var ie *errs.Error
		if errors.As(err, &ie) { // a custom UnmarshalJSON reported a field
			return ie
		}
		return errs.Malformedf("", "malformed JSON: %v", err)
	}
}

// jsonPath is the JSON name of the field in an UnmarshalTypeError: encoding/json
// puts the Go names of embedded structs in front ("EnrollInput.email" for a
// body that embeds subscribers.EnrollInput), which are not in the body; our
// JSON names are lower-case, so leading upper-case parts are dropped.
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	for len(parts) > 1 && parts[0] != "" && parts[0][0] >= 'A' && parts[0][0] <= 'Z' {
		parts = parts[1:]
	}
	return strings.Join(parts, ".")
}

func article(kind string) string {
	switch kind {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int64", "int32", "uint", "uint64", "float64", "float32":
		return "a number"
	}
	return "a " + kind
}
