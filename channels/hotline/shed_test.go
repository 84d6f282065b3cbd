package hotline

import "testing"

// The socket's filter reads the To header from raw bytes: in either form
// of its name, in any case, and a tag only outside the URI's brackets.
func TestShedHeaderReading(t *testing.T) {
	for _, c := range []struct {
		msg   string
		to    string // "" for none
		isTag bool
	}{
		{"INVITE sip:12345@h SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nTo: <sip:12345@h>\r\nFrom: <sip:1@a>;tag=9\r\n\r\n", "<sip:12345@h>", false},
		{"INVITE sip:12345@h SIP/2.0\r\nTO: <sip:12345@h>;tag=abc\r\n\r\n", "<sip:12345@h>;tag=abc", true},
		{"INVITE sip:12345@h SIP/2.0\r\nt:sip:12345@h;TAG=x\r\n\r\n", "sip:12345@h;TAG=x", true},
		{"INVITE sip:12345@h SIP/2.0\r\nTo: \"a;tag=b\" <sip:12345@h;tag=uri>\r\n\r\n", "\"a;tag=b\" <sip:12345@h;tag=uri>", false},
		{"INVITE sip:12345@h SIP/2.0\r\nTopic: x\r\n\r\nTo: <sip:body@h>;tag=1\r\n", "", false},
		{"INVITE sip:12345@h SIP/2.0\nTo: <sip:12345@h>;tag=lf\n\n", "<sip:12345@h>;tag=lf", true},
	} {
		got := headerLine([]byte(c.msg), "to", "t")
		if string(got) != c.to || (got == nil) != (c.to == "") {
			t.Errorf("%q: To %q, want %q", c.msg, got, c.to)
			continue
		}
		if got != nil && hasTag(got) != c.isTag {
			t.Errorf("%q: tag %v, want %v", c.to, !c.isTag, c.isTag)
		}
	}
}
