package hotline

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

func demoLines(t *testing.T) *Lines {
	t.Helper()
	ls, err := NewLines([]Line{
		{Number: "12345", Label: "12345 政务服务便民热线"},
		{Number: "12319", Label: "12319 城建热线", Skills: []string{"urban"}},
		{Number: "96310", Label: "96310 交通服务热线"},
	}, "86")
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func parseRequest(t *testing.T, raw string) *sip.Request {
	t.Helper()
	msg, err := sip.NewParser().ParseSIP([]byte(strings.ReplaceAll(raw, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return msg.(*sip.Request)
}

func invite(ruri string, extra ...string) string {
	return "INVITE " + ruri + " SIP/2.0\n" +
		"Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK776asdhds\n" +
		"From: <sip:13800138000@carrier.example>;tag=1928301774\n" +
		"To: <" + ruri + ">\n" +
		"Call-ID: a84b4c76e66710@10.0.0.9\n" +
		"CSeq: 314159 INVITE\n" +
		strings.Join(extra, "") +
		"Content-Length: 0\n\n"
}

func TestResolveLine(t *testing.T) {
	ls := demoLines(t)
	for _, tc := range []struct {
		name, ruri string
		extra      []string
		want       string
	}{
		{"request uri", "sip:12345@hub.example", nil, "12345"},
		{"with country code", "sip:+8696310@hub.example", nil, "96310"},
		{"unknown number", "sip:110@hub.example", nil, ""},
		{"diversion from a legacy number", "sip:12345@hub.example",
			[]string{"Diversion: <sip:12319@pbx.example>;reason=unconditional\n"}, "12319"},
		{"diversion chain: first dialled is last", "sip:12345@hub.example",
			[]string{"Diversion: <sip:7001@pbx.example>;reason=no-answer, <sip:96310@pbx.example>;reason=unconditional\n"}, "96310"},
		{"history-info: first entry", "sip:12345@hub.example",
			[]string{"History-Info: <sip:12319@pbx.example>;index=1, <sip:12345@hub.example>;index=1.1\n"}, "12319"},
		{"diversion naming no line falls back to the request uri", "sip:12345@hub.example",
			[]string{"Diversion: <sip:88886666@pbx.example>\n"}, "12345"},
		{"tel uri in diversion", "sip:12345@hub.example",
			[]string{"Diversion: <tel:+8612319>;reason=unconditional\n"}, "12319"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := ls.Resolve(parseRequest(t, invite(tc.ruri, tc.extra...)))
			got := ""
			if l != nil {
				got = l.Number
			}
			if got != tc.want {
				t.Fatalf("line %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCallerID(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"from", nil, "+8613800138000"},
		{"asserted identity wins", []string{"P-Asserted-Identity: \"Zhang\" <sip:+8613912345678@carrier.example;user=phone>\n"}, "+8613912345678"},
		{"tel asserted identity", []string{"P-Asserted-Identity: <tel:010-6512-3456>\n"}, "+861065123456"},
		{"anonymous asserted falls back to from", []string{"P-Asserted-Identity: <sip:anonymous@anonymous.invalid>\n"}, "+8613800138000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CallerID(parseRequest(t, invite("sip:12345@hub", tc.extra...)), "86"); got != tc.want {
				t.Fatalf("caller %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewLinesRefuses(t *testing.T) {
	for _, lines := range [][]Line{
		{{Number: ""}},
		{{Number: "12a45"}},
		{{Number: "12345"}, {Number: "12345"}},
	} {
		if _, err := NewLines(lines, "86"); err == nil {
			t.Errorf("%v accepted", lines)
		}
	}
}

func TestAddressUser(t *testing.T) {
	for in, want := range map[string]string{
		`"Li Lei" <sip:12345@hub;user=phone>;tag=x`: "12345",
		`<sips:2001:secret@hub>`:                    "2001",
		`sip:12319@pbx;reason=unconditional`:        "12319",
		`<tel:+8612345;phone-context=x>`:            "+8612345",
		`<sip:hub.example>`:                         "",
		`<http://example.com>`:                      "",
		``:                                          "",
		`<sip:12345;npdi@hub>`:                      "12345",
	} {
		if got := addressUser(in); got != want {
			t.Errorf("addressUser(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzHeaderList(f *testing.F) {
	for _, s := range []string{
		`<sip:7001@pbx>;reason=no-answer, <sip:96310@pbx>;reason=unconditional`,
		`"a, b" <sip:1@h>, <tel:+86123>`, `<<,>>`, `"`, `,,,`, `<sip:1@h;a="x,y">`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		parts := splitHeaderList(v)
		if len(parts) == 0 {
			t.Fatal("no parts")
		}
		for _, p := range parts {
			u := addressUser(p)
			if len(u) > len(p) {
				t.Fatalf("user %q longer than its entry %q", u, p)
			}
		}
	})
}

func TestNonces(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	n := nonces{secret: []byte("instance secret"), ttl: 5 * time.Minute}
	nonce := n.issue(now)
	if exp, err := n.check(nonce, now.Add(time.Minute)); err != nil || !exp.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("fresh nonce refused: %v (expires %v)", err, exp)
	}
	if _, err := n.check(nonce, now.Add(6*time.Minute)); err != errNonceStale {
		t.Fatalf("old nonce: %v, want stale", err)
	}
	other := nonces{secret: []byte("another secret"), ttl: 5 * time.Minute}
	if _, err := other.check(nonce, now); err != errNonceForged {
		t.Fatalf("nonce of another secret: %v, want forged", err)
	}
	b := []byte(nonce)
	b[3] ^= 1
	for _, bad := range []string{string(b), "", "abc", nonce + "x"} {
		if _, err := n.check(bad, now); err != errNonceForged {
			t.Errorf("check(%q) = %v, want forged", bad, err)
		}
	}
	if n.issue(now) == nonce {
		t.Fatal("two nonces at the same instant are equal")
	}
}

// RFC 2617 §3.5's example, with the HA1 the registrar stores instead of
// the password.
func TestDigestResponseRFC2617(t *testing.T) {
	c := &digest.Credentials{
		Username: "Mufasa", Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		URI: "/dir/index.html", QOP: "auth", Nc: 1, Cnonce: "0a4f113b",
	}
	got, err := digestResponse(md5hex("Mufasa:testrealm@host.com:Circle Of Life"), "GET", c)
	if err != nil {
		t.Fatal(err)
	}
	if got != "6629fae49393a05397450978507c4ef1" {
		t.Fatalf("response %s", got)
	}
	c.Algorithm = "SHA-512-256"
	if _, err := digestResponse("x", "GET", c); err == nil {
		t.Fatal("unsupported algorithm accepted")
	}
}
