package hotline

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/yihao-city/yihao/ticketing"
)

// Whatever a PBX posts to the CTI webhook, reading it gives an event or an
// error, and an event that validates applies to a call without a panic.
func FuzzCTIEvent(f *testing.F) {
	for _, s := range []string{
		`{"event":"newCall","callId":"c1","from":"13800138000","to":"12345","direction":"in"}`,
		`event=hangup&callId=c1&cause=cancel`, `{"user":["a"]}`, `{"event":1}`, `event=answer&callId=%00`, ``,
	} {
		f.Add(s, "application/json")
		f.Add(s, "application/x-www-form-urlencoded")
	}
	s := New(Config{}, nil, nil, nil)
	f.Fuzz(func(t *testing.T, body, ctype string) {
		r := httptest.NewRequest("POST", "/api/v1/cti/x", strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		ev, err := s.readEvent(httptest.NewRecorder(), r)
		if err != nil {
			return
		}
		ev.At = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
		ev.Normalize("86")
		if ev.Validate() == nil {
			c := ticketing.Call{}.Apply(ev)
			if c.CallID != ev.CallID {
				t.Fatalf("call %q from event %q", c.CallID, ev.CallID)
			}
		}
	})
}

// Whatever arrives over SIP and parses, finding its line and caller never
// panics, and a line found is a configured one.
func FuzzSIPRequest(f *testing.F) {
	f.Add("INVITE sip:12345@hub SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:13800138000@c>;tag=1\r\nTo: <sip:12345@hub>\r\n" +
		"Call-ID: a\r\nCSeq: 1 INVITE\r\nDiversion: <sip:12319@pbx>;reason=unconditional\r\nP-Asserted-Identity: <tel:+8613912345678>\r\nContent-Length: 0\r\n\r\n")
	f.Add("MESSAGE sip:+8696310@hub SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\nFrom: x;tag=2\r\nTo: <sip:96310@hub>\r\nCall-ID: b\r\nCSeq: 2 MESSAGE\r\nHistory-Info: <sip:12315@a>;index=1,<<,>>\r\nContent-Length: 0\r\n\r\n")
	lines, err := NewLines([]Line{{Number: "12345"}, {Number: "12319"}, {Number: "96310"}, {Number: "12315"}}, "86")
	if err != nil {
		f.Fatal(err)
	}
	parser := sip.NewParser()
	f.Fuzz(func(t *testing.T, raw string) {
		msg, err := parser.ParseSIP([]byte(raw))
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		if l := lines.Resolve(req); l != nil && lines.Lookup(l.Number) != l {
			t.Fatalf("resolved to an unconfigured line %q", l.Number)
		}
		if c := CallerID(req, "86"); c != "" && ticketing.NormalizePhone(c, "86") != c {
			t.Fatalf("caller %q is not in E.164", c)
		}
	})
}
