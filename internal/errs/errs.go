// Package errs is Treu's one error vocabulary: a Kind that the HTTP layer maps to
// a status once, and the Field at fault, so domain packages never import echo.
package errs

import (
	"errors"
	"fmt"
)

// Kind says what went wrong in terms a caller can act on.
type Kind int

const (
	Internal     Kind = iota // a bug or an outage: 500
	Malformed                // cannot be parsed: 400
	Unauthorized             // no or bad credentials: 401
	Forbidden                // credentials fine, not allowed: 403
	NotFound                 // 404
	Conflict                 // state does not allow it: 409
	TooLarge                 // 413
	Invalid                  // well-formed but not acceptable: 422
	RateLimited              // 429
)

// Error is an error with a Kind and, where one field is at fault, its name.
type Error struct {
	Kind  Kind
	Field string
	Msg   string
	Err   error // optional cause
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func newf(k Kind, field, format string, args ...any) *Error {
	return &Error{Kind: k, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Invalidf is a 422 naming field.
func Invalidf(field, format string, args ...any) *Error {
	return newf(Invalid, field, format, args...)
}

// Malformedf is a 400, naming field where one is known.
func Malformedf(field, format string, args ...any) *Error {
	return newf(Malformed, field, format, args...)
}

// NotFoundf is a 404.
func NotFoundf(format string, args ...any) *Error { return newf(NotFound, "", format, args...) }

// Conflictf is a 409.
func Conflictf(format string, args ...any) *Error { return newf(Conflict, "", format, args...) }

// Unauthorizedf is a 401.
func Unauthorizedf(format string, args ...any) *Error {
	return newf(Unauthorized, "", format, args...)
}

// Forbiddenf is a 403: the caller is known but may not do this.
func Forbiddenf(format string, args ...any) *Error {
	return newf(Forbidden, "", format, args...)
}

// RateLimitedf is a 429.
func RateLimitedf(format string, args ...any) *Error {
	return newf(RateLimited, "", format, args...)
}

// KindOf returns the Kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err carries kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
