package channels

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/yihao-city/yihao/ticketing"
)

// HTTPStatus is Yihao's JSON API's one table from error kinds to status
// codes, shared by every door that answers in that API's shape (Open311
// and SIP have tables of their own, as their specifications say).
func HTTPStatus(k ticketing.Kind) int {
	switch k {
	case ticketing.KindInvalid:
		return http.StatusBadRequest
	case ticketing.KindNotFound:
		return http.StatusNotFound
	case ticketing.KindConflict:
		return http.StatusConflict
	case ticketing.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case ticketing.KindUnsupported:
		return http.StatusUnsupportedMediaType
	case ticketing.KindUnauthorized:
		return http.StatusUnauthorized
	case ticketing.KindForbidden:
		return http.StatusForbidden
	case ticketing.KindRateLimited:
		return http.StatusTooManyRequests
	case ticketing.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// APIError is the body of every JSON API error: {"error": APIError}.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// ErrorBody is the JSON answer for e.
func ErrorBody(e *ticketing.Error) map[string]APIError {
	return map[string]APIError{"error": {Code: e.ErrorCode(), Message: e.Message, Field: e.Field}}
}

// AsError views any error as a *ticketing.Error; unknown errors become
// internal ones whose cause is kept for the log, never shown.
func AsError(err error) *ticketing.Error {
	var e *ticketing.Error
	if errors.As(err, &e) {
		return e
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &ticketing.Error{Kind: ticketing.KindTooLarge, Message: "request body is over " + strconv.FormatInt(mbe.Limit, 10) + " bytes"}
	}
	return &ticketing.Error{Kind: ticketing.KindInternal, Message: "internal error", Err: err}
}
