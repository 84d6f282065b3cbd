package hotline

import (
	"errors"
	"fmt"
	"testing"

	"github.com/yihao-city/yihao/ticketing"
)

func TestAnswerFor(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want sipAnswer
	}{
		{"invalid report", ticketing.Invalid("text", "is empty"), sipAnswer{400, "Bad Request: text: is empty", false, false}},
		{"wrapped invalid", fmt.Errorf("submit: %w", ticketing.Invalid("line", "unknown")), sipAnswer{400, "Bad Request: line: unknown", false, false}},
		{"conflict", &ticketing.Error{Kind: ticketing.KindConflict, Message: "reused key"}, sipAnswer{409, "Conflict", false, false}},
		{"dependency down", ticketing.Unavailable(errors.New("pool exhausted")), sipAnswer{503, "Service Unavailable", true, false}},
		{"plain store error", errors.New("connection refused"), sipAnswer{503, "Service Unavailable", true, false}},
		{"too large", ticketing.ErrTooLarge, sipAnswer{503, "Service Unavailable", true, false}},
		{"registrar fault", registrarFault(errors.New("redis down")), sipAnswer{500, "Server Internal Error", true, false}},
		{"registrar fault over a kind", registrarFault(ticketing.Unavailable(errors.New("pool"))), sipAnswer{500, "Server Internal Error", true, false}},
		{"busy", ticketing.ErrBusy, sipAnswer{503, "Service Unavailable", true, true}},
		{"wrapped busy", fmt.Errorf("submit: %w", ticketing.ErrBusy), sipAnswer{503, "Service Unavailable", true, true}},
		{"call log down", ticketing.Unavailable(ticketing.Invalid("call_id", "too long")), sipAnswer{503, "Service Unavailable", true, false}},
	} {
		if got := answerFor(c.err); got != c.want {
			t.Errorf("%s: answerFor(%v) = %+v, want %+v", c.name, c.err, got, c.want)
		}
	}
}
