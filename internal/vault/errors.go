package vault

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error codes. The HTTP layer maps each to a status in one table; the CLI
// maps them to exit codes in one switch.
const (
	ECONFLICT     = "conflict"     // the thing exists, or is in use
	EINTERNAL     = "internal"     // our fault
	EINVALID      = "invalid"      // the request is wrong
	ENOTFOUND     = "not_found"    // absent, or not visible to the caller
	EUNAUTHORIZED = "unauthorized" // who are you?
	EFORBIDDEN    = "forbidden"    // not allowed
	ETOOLARGE     = "too_large"    // body over the limit
	EUNSUPPORTED  = "unsupported"  // e.g. a media type not allowed
	ERATELIMIT    = "rate_limited" // too many attempts
	EUNAVAILABLE  = "unavailable"  // shutting down, or a backend is down
)

// Error is an error meant for the caller: a code and a message safe to
// show (never a secret, never a stack trace).
type Error struct {
	Code    string
	Message string
	Err     error // the cause, for logs; not shown to callers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the code and message, keeping err as cause.
func Wrap(code string, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic one: internal details are for logs only.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Sentinel errors stores return, wrapped as *Error by callers when shown.
var (
	ErrNotFound = &Error{Code: ENOTFOUND, Message: "not found"}
	ErrConflict = &Error{Code: ECONFLICT, Message: "already exists or in use"}
	// ErrHeld: a legal hold keeps the recording (see HeldError).
	ErrHeld = &Error{Code: ECONFLICT, Message: "under legal hold"}
)

// HeldError is the refusal to delete a recording that legal holds keep;
// errors.Is(err, ErrHeld) holds for it.
type HeldError struct {
	Holds []string // the names of the active holds
}

func (e *HeldError) Error() string { return ErrHeld.Message + ": " + strings.Join(e.Holds, ", ") }

// Unwrap makes a HeldError an ErrHeld.
func (e *HeldError) Unwrap() error { return ErrHeld }

// httpStatus is the one table from error codes to HTTP statuses, for the
// API and the UI alike.
var httpStatus = map[string]int{
	EINVALID:      http.StatusBadRequest,
	EUNAUTHORIZED: http.StatusUnauthorized,
	EFORBIDDEN:    http.StatusForbidden,
	ENOTFOUND:     http.StatusNotFound,
	ECONFLICT:     http.StatusConflict,
	ETOOLARGE:     http.StatusRequestEntityTooLarge,
	EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	ERATELIMIT:    http.StatusTooManyRequests,
	EUNAVAILABLE:  http.StatusServiceUnavailable,
	EINTERNAL:     http.StatusInternalServerError,
}

// HTTPStatus is the HTTP status of err's code (500 for anything unknown).
func HTTPStatus(err error) int {
	if s, ok := httpStatus[ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}
