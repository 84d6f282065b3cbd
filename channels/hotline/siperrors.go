package hotline

import (
	"errors"

	"github.com/emiago/sipgo/sip"

	"github.com/yihao-city/yihao/ticketing"
)

// sipAnswer is the final response a failure earns.
type sipAnswer struct {
	code   int
	reason string
	// retry sends Retry-After (5 s, or 1 s when the hub is only busy), so a
	// carrier, a gateway or a phone tries again shortly instead of giving
	// up or hammering.
	retry bool
	// busy marks a refusal at capacity: expected at a peak, counted in
	// yihao_intake_shed_total, never logged one by one.
	busy bool
}

// answerFor is the SIP side's one table from a failure to its response,
// as channels.HTTPStatus is the HTTP side's. An error that is not one of
// ticketing's own is a dependency failing (the store, the call log): 503,
// try again. The registrar marks its own dependencies' failures as
// internal (500) where it meets them.
func answerFor(err error) sipAnswer {
	if errors.Is(err, ticketing.ErrBusy) {
		return sipAnswer{503, "Service Unavailable", true, true}
	}
	var te *ticketing.Error
	if !errors.As(err, &te) {
		return sipAnswer{503, "Service Unavailable", true, false}
	}
	switch te.Kind {
	case ticketing.KindInvalid:
		return sipAnswer{400, "Bad Request: " + te.Error(), false, false}
	case ticketing.KindConflict:
		return sipAnswer{409, "Conflict", false, false}
	case ticketing.KindInternal:
		return sipAnswer{500, "Server Internal Error", true, false}
	default:
		return sipAnswer{503, "Service Unavailable", true, false}
	}
}

// refuse answers req with the response err earns.
func (s *SIP) refuse(tx sip.ServerTransaction, req *sip.Request, err error) {
	a := answerFor(err)
	if a.busy {
		s.respond(tx, req, a.code, a.reason, sip.NewHeader("Retry-After", "1"))
		return
	}
	if a.retry {
		s.respond(tx, req, a.code, a.reason, sip.NewHeader("Retry-After", "5"))
		return
	}
	s.respond(tx, req, a.code, a.reason)
}

// registrarFault marks a failure of the registrar's own dependencies (the
// lockout, the nonce ledger, presence, the agents' accounts) as a fault on
// our side: 500, whatever kind the dependency gave it.
func registrarFault(err error) error {
	return &ticketing.Error{Kind: ticketing.KindInternal, Message: "internal error", Err: err}
}
