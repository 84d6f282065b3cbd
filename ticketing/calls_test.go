package ticketing_test

import (
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"13800138000", "+8613800138000"},
		{"138 0013 8000", "+8613800138000"},
		{"+8613800138000", "+8613800138000"},
		{"+86 138-0013-8000", "+8613800138000"},
		{"008613800138000", "+8613800138000"},
		{"8613800138000", "+8613800138000"},
		{"010-65123456", "+861065123456"},
		{"(0755) 8888 1234", "+8675588881234"},
		{"+86 (0)10 6512 3456", "+861065123456"},
		{"0044 20 7946 0958", "+442079460958"},
		{"+1 415 555 2671", "+14155552671"},
		{"12345", "12345"},
		{"65123456", "65123456"},
		{"4001234567", "+864001234567"},
		{"anonymous", ""},
		{"", ""},
		{"12", ""},
		{"1380013800012345678901", ""},
		{"000", ""},      // "00" then nothing that is a number (found by FuzzSIPRequest)
		{"+0123456", ""}, // no country code starts with 0
		{"0086", ""},
	} {
		if got := ticketing.NormalizePhone(tc.raw, "86"); got != tc.want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
	if got := ticketing.NormalizePhone("030 1234567", "+49"); got != "+49301234567" {
		t.Errorf("German landline: %q", got)
	}
}

var t0 = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

func ev(typ ticketing.CallEventType, sec int, cause string) ticketing.CallEvent {
	return ticketing.CallEvent{CallID: "c", Type: typ, From: "+8613800138000", To: "12345", Direction: ticketing.DirectionIn,
		User: "2001", Cause: cause, At: t0.Add(time.Duration(sec) * time.Second)}
}

func run(evs ...ticketing.CallEvent) ticketing.Call {
	var c ticketing.Call
	for _, e := range evs {
		c = c.Apply(e)
	}
	return c
}

func TestCallApply(t *testing.T) {
	const (
		newCall = ticketing.CallNew
		answer  = ticketing.CallAnswer
		hangup  = ticketing.CallHangup
	)
	out := func(e ticketing.CallEvent) ticketing.CallEvent {
		e.Direction, e.From, e.To = ticketing.DirectionOut, "12345", "+8613800138000"
		return e
	}
	for _, tc := range []struct {
		name       string
		evs        []ticketing.CallEvent
		cause      ticketing.CallCause
		wait, talk int // seconds
		agent      string
	}{
		{"answered", []ticketing.CallEvent{ev(newCall, 0, ""), ev(answer, 8, ""), ev(hangup, 68, "normalClearing")}, ticketing.CauseAnswered, 8, 60, "2001"},
		{"answered, hung up busy", []ticketing.CallEvent{ev(newCall, 0, ""), ev(answer, 8, ""), ev(hangup, 68, "busy")}, ticketing.CauseAnswered, 8, 60, "2001"},
		{"cancel", []ticketing.CallEvent{ev(newCall, 0, ""), ev(hangup, 20, "cancel")}, ticketing.CauseAbandoned, 20, 0, ""},
		{"normalClearing unanswered", []ticketing.CallEvent{ev(newCall, 0, ""), ev(hangup, 20, "normalClearing")}, ticketing.CauseAbandoned, 20, 0, ""},
		{"no cause", []ticketing.CallEvent{ev(newCall, 0, ""), ev(hangup, 20, "")}, ticketing.CauseAbandoned, 20, 0, ""},
		{"busy", []ticketing.CallEvent{ev(newCall, 0, ""), ev(hangup, 1, "busy")}, ticketing.CauseBusy, 1, 0, ""},
		{"congestion", []ticketing.CallEvent{ev(newCall, 0, ""), ev(hangup, 1, "congestion")}, ticketing.CauseFailed, 1, 0, ""},
		{"notFound", []ticketing.CallEvent{ev(newCall, 0, ""), ev(hangup, 1, "notFound")}, ticketing.CauseFailed, 1, 0, ""},
		{"noAnswer", []ticketing.CallEvent{ev(newCall, 0, ""), ev(hangup, 30, "noAnswer")}, ticketing.CauseNoAgent, 30, 0, ""},
		{"forwarded", []ticketing.CallEvent{ev(newCall, 0, ""), ev(hangup, 30, "forwarded")}, ticketing.CauseNoAgent, 30, 0, ""},
		{"unknown cause", []ticketing.CallEvent{ev(newCall, 0, ""), ev(hangup, 30, "weird")}, ticketing.CauseNoAgent, 30, 0, ""},
		{"outbound unanswered", []ticketing.CallEvent{out(ev(newCall, 0, "")), out(ev(hangup, 30, "noAnswer"))}, ticketing.CauseFailed, 30, 0, ""},
		{"outbound busy", []ticketing.CallEvent{out(ev(newCall, 0, "")), out(ev(hangup, 3, "busy"))}, ticketing.CauseBusy, 3, 0, ""},
		{"repeated events", []ticketing.CallEvent{ev(newCall, 0, ""), ev(newCall, 1, ""), ev(answer, 8, ""), ev(answer, 9, ""),
			ev(hangup, 68, "normalClearing"), ev(hangup, 90, "cancel")}, ticketing.CauseAnswered, 8, 60, "2001"},
		{"answer stored after the hangup", []ticketing.CallEvent{ev(newCall, 0, ""), ev(hangup, 68, "normalClearing"), ev(answer, 8, "")}, ticketing.CauseAnswered, 8, 60, "2001"},
		{"answer after hangup ignored", []ticketing.CallEvent{ev(newCall, 0, ""), ev(hangup, 20, "cancel"), ev(answer, 25, "")}, ticketing.CauseAbandoned, 20, 0, ""},
		{"newCall late moves arrival back", []ticketing.CallEvent{ev(answer, 8, ""), ev(newCall, 0, ""), ev(hangup, 68, "normalClearing")}, ticketing.CauseAnswered, 8, 60, "2001"},
		{"newCall after hangup", []ticketing.CallEvent{ev(hangup, 20, "cancel"), ev(newCall, 0, "")}, ticketing.CauseAbandoned, 20, 0, ""},
		{"hangup only", []ticketing.CallEvent{ev(hangup, 20, "cancel")}, ticketing.CauseAbandoned, 0, 0, ""},
		{"ringing", []ticketing.CallEvent{ev(newCall, 0, "")}, "", 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := run(tc.evs...)
			if c.Cause != tc.cause || c.Wait() != time.Duration(tc.wait)*time.Second || c.Talk() != time.Duration(tc.talk)*time.Second || c.Agent != tc.agent {
				t.Errorf("cause %q wait %v talk %v agent %q; want %q %ds %ds %q", c.Cause, c.Wait(), c.Talk(), c.Agent, tc.cause, tc.wait, tc.talk, tc.agent)
			}
			if c.Line != "12345" || c.Caller != "+8613800138000" {
				t.Errorf("line %q caller %q", c.Line, c.Caller)
			}
			// Applying the whole sequence again changes nothing.
			if again := run(append(tc.evs, tc.evs...)...); again.Cause != c.Cause || !again.EndedAt.Equal(c.EndedAt) ||
				!again.AnsweredAt.Equal(c.AnsweredAt) || !again.ArrivedAt.Equal(c.ArrivedAt) {
				t.Errorf("replayed: %+v, want %+v", again, c)
			}
		})
	}
}

func TestCallMissed(t *testing.T) {
	if c := run(ev(ticketing.CallNew, 0, ""), ev(ticketing.CallHangup, 5, "cancel")); !c.Missed() {
		t.Error("abandoned inbound call is not missed")
	}
	if c := run(ev(ticketing.CallNew, 0, "")); c.Missed() {
		t.Error("a ringing call is missed")
	}
	anon := ev(ticketing.CallNew, 0, "")
	anon.From = ""
	if c := run(anon, ev(ticketing.CallHangup, 5, "cancel")); c.Caller != "+8613800138000" {
		// the hangup brought the number
		t.Errorf("caller %q", c.Caller)
	}
}

func TestCallEventValidate(t *testing.T) {
	ok := ev(ticketing.CallNew, 0, "")
	for _, tc := range []struct {
		field string
		mod   func(*ticketing.CallEvent)
	}{
		{"", func(*ticketing.CallEvent) {}},
		{"event", func(e *ticketing.CallEvent) { e.Type = "" }},
		{"event", func(e *ticketing.CallEvent) { e.Type = "ring" }},
		{"callId", func(e *ticketing.CallEvent) { e.CallID = "" }},
		{"callId", func(e *ticketing.CallEvent) { e.CallID = string(make([]byte, 200)) }},
		{"direction", func(e *ticketing.CallEvent) { e.Direction = "" }},
		{"direction", func(e *ticketing.CallEvent) { e.Direction = "sideways" }},
		{"from", func(e *ticketing.CallEvent) { e.From = "1\n2" }},
		{"cause", func(e *ticketing.CallEvent) { e.Cause = string(make([]byte, 65)) }},
	} {
		e := ok
		tc.mod(&e)
		err := e.Validate()
		var te *ticketing.Error
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("valid event: %v", err)
		case tc.field != "" && (err == nil || !asErr(err, &te) || te.Field != tc.field || te.Kind != ticketing.KindInvalid):
			t.Errorf("want invalid %s, got %v", tc.field, err)
		}
	}
	hang := ev(ticketing.CallHangup, 0, "cancel")
	hang.Direction = ""
	if err := hang.Validate(); err != nil {
		t.Errorf("hangup without direction: %v", err)
	}
}

func asErr(err error, te **ticketing.Error) bool {
	e, ok := err.(*ticketing.Error)
	*te = e
	return ok
}

func TestCallFigures(t *testing.T) {
	f := ticketing.CallFigures{Offered: 4, Answered: 2, AnsweredIn15s: 1, Abandoned: 1, WaitSum: 40 * time.Second, TalkSum: 100 * time.Second}
	if f.AnswerRate() != 0.5 || f.ServiceLevel() != 0.25 || f.AbandonRate() != 0.25 || f.AvgWait() != 10*time.Second || f.AvgTalk() != 50*time.Second {
		t.Errorf("%v %v %v %v %v", f.AnswerRate(), f.ServiceLevel(), f.AbandonRate(), f.AvgWait(), f.AvgTalk())
	}
	var zero ticketing.CallFigures
	if zero.AnswerRate() != 0 || zero.AvgWait() != 0 || zero.AvgTalk() != 0 {
		t.Error("zero figures are not zero")
	}
}
