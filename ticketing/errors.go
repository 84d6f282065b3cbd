package ticketing

import (
	"errors"
	"fmt"
)

// Kind is the small set of failure classes every transport maps to its own
// status codes (HTTP, SIP, Open311) in one table.
type Kind int

const (
	KindInternal     Kind = iota // a bug or an unexpected failure
	KindInvalid                  // bad input; nothing changed
	KindNotFound                 // no such ticket, token or resource
	KindConflict                 // illegal transition, stale version, reused key
	KindTooLarge                 // body, text or attachment over a limit
	KindUnsupported              // media type we do not accept
	KindUnauthorized             // missing or wrong credentials
	KindForbidden                // credentials valid, action not allowed
	KindRateLimited              // too many requests from one source
	KindUnavailable              // a dependency is down; retry later
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindConflict:
		return "conflict"
	case KindTooLarge:
		return "too_large"
	case KindUnsupported:
		return "unsupported_media_type"
	case KindUnauthorized:
		return "unauthorized"
	case KindForbidden:
		return "forbidden"
	case KindRateLimited:
		return "rate_limited"
	case KindUnavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// Sentinels for errors.Is; an *Error of the same kind matches them.
var (
	ErrInvalid     = &Error{Kind: KindInvalid}
	ErrNotFound    = &Error{Kind: KindNotFound}
	ErrConflict    = &Error{Kind: KindConflict}
	ErrTooLarge    = &Error{Kind: KindTooLarge}
	ErrUnsupported = &Error{Kind: KindUnsupported}
	ErrUnavailable = &Error{Kind: KindUnavailable}
)

// ErrAlreadyApplied is what Store.Update returns, having written nothing,
// when the change carries an idempotency key the ticket has taken already
// (Supplement.Key): a retry of a change that is stored. Stores return this
// value itself. Service.Supplement answers it with the ticket as it is.
var ErrAlreadyApplied = &Error{Kind: KindConflict, Code: "already_applied", Field: "key",
	Message: "the ticket has taken this change already"}

// Error carries a kind, the input field at fault (if any) and a message a
// citizen or an integrator can act on.
type Error struct {
	Kind    Kind
	Code    string // machine-readable detail, e.g. "illegal_transition"; defaults to Kind
	Field   string
	Message string
	Err     error // cause, for logs; never shown to citizens
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Kind.String()
	}
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error of the same kind (and code, when the target sets one).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Kind == e.Kind && (t.Code == "" || t.Code == e.Code) && t.Message == "" || t == e
}

// ErrorCode returns the machine-readable code of err.
func (e *Error) ErrorCode() string {
	if e.Code != "" {
		return e.Code
	}
	return e.Kind.String()
}

// Invalid reports bad input in field.
func Invalid(field, format string, args ...any) error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Errorf builds an *Error of kind k.
func Errorf(k Kind, field, format string, args ...any) error {
	return &Error{Kind: k, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps a failure of a dependency (store down, pool exhausted).
func Unavailable(err error) error {
	return &Error{Kind: KindUnavailable, Message: "service temporarily unavailable, retry later", Err: err}
}

// KindOf returns the kind of err, KindInternal when it is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// TransitionError is returned when an action is not allowed in the ticket's
// current state. It matches ErrConflict and ErrIllegalTransition.
type TransitionError struct {
	Action string
	From   Status
}

// ErrIllegalTransition matches every *TransitionError.
var ErrIllegalTransition = &Error{Kind: KindConflict, Code: "illegal_transition"}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("cannot %s a ticket that is %s", e.Action, e.From)
}

func (e *TransitionError) Is(target error) bool {
	return target == ErrIllegalTransition || target == ErrConflict
}

// As lets errors.As(err, **Error) see a transition error as a conflict.
func (e *TransitionError) As(target any) bool {
	if p, ok := target.(**Error); ok {
		*p = &Error{Kind: KindConflict, Code: "illegal_transition", Field: "status", Message: e.Error()}
		return true
	}
	return false
}

// Refused reports whether err, from Submit or a door's checks before it,
// means the report was certainly not stored: the door may delete the
// photos it saved for it. After any other error the ticket may exist.
func Refused(err error) bool {
	if errors.Is(err, ErrBusy) { // shed before anything was written
		return true
	}
	switch KindOf(err) {
	case KindInvalid, KindTooLarge, KindUnsupported, KindConflict, KindRateLimited, KindUnauthorized, KindForbidden:
		return true
	}
	return false
}
