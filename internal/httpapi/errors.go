package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/yihao-city/yihao/ticketing"
)

// Status is Yihao's JSON API's one table from error kinds to status codes,
// shared by every door that answers in that API's shape (Open311 and SIP
// have tables of their own, as their specifications say).
func Status(k ticketing.Kind) int {
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

// Problem is the body of every JSON API error: {"error": Problem}.
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Body is the JSON answer for e.
func Body(e *ticketing.Error) map[string]Problem {
	return map[string]Problem{"error": {Code: e.ErrorCode(), Message: e.Message, Field: e.Field}}
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

// RetryAfter is what a client told 503 should wait, in seconds.
const RetryAfter = "5"

// Logged views err as a *ticketing.Error (AsError), logs internal failures
// and unavailable dependencies under the request's route, and tells a
// client told 503 when to retry. Every door that answers errors calls it,
// whatever shape its body takes (JSON, a page, Open311's XML).
func Logged(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) *ticketing.Error {
	e := AsError(err)
	switch e.Kind {
	case ticketing.KindInternal:
		log.Error("request failed", "route", Route(r), "err", err)
	case ticketing.KindUnavailable:
		if errors.Is(e, ticketing.ErrBusy) {
			// At capacity: counted (yihao_intake_shed_total), not logged
			// once per refusal, which would add to the load it sheds.
			w.Header().Set("Retry-After", "1")
			break
		}
		log.Warn("dependency unavailable", "route", Route(r), "err", err)
		w.Header().Set("Retry-After", RetryAfter)
	}
	return e
}

// Fail answers err in the JSON API's shape: the status from its kind and
// {"error": {"code", "message", "field"}}, logged as Logged says; a 401
// names the scheme (unless the handler named it more precisely).
func Fail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := Logged(w, r, log, err)
	if e.Kind == ticketing.KindUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="yihao"`)
	}
	WriteJSON(w, Status(e.Kind), Body(e))
}

// WriteJSON answers v as JSON with status code, never cached.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away
}
