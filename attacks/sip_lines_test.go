package attacks

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The phone door with the carrier's trunk and the SMS gateway configured.
// From any other address: a text to a line (spoofed to name a victim for
// the reply), a call with a forged P-Asserted-Identity and a call naming a
// diverted line are refused 403, make no ticket and no call, and the
// victim hears nothing. The gateway's own text still makes a ticket whose
// number goes back to the gateway alone.
func TestSIPLineSpoofing(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		gw := udpConn(t, "127.0.0.5:0")
		s := Start(t, store, Options{Env: map[string]string{
			"YIHAO_SIP_TRUNKS":   "127.0.0.6/32",
			"YIHAO_SIP_GATEWAYS": gw.LocalAddr().String(),
		}})
		if strings.Contains(s.Log(), "no trunks or gateways configured") {
			t.Error("the open-lines warning was printed with trunks configured")
		}
		victim := NewSink(t)
		attacker := udpConn(t, "127.0.0.1:0")
		local := attacker.LocalAddr().String()
		for name, msg := range map[string]string{
			"spoofed text":     sipText(local, victim.Addr, "spoof-text-"+store, "P-Asserted-Identity: <tel:+8613900139000>"),
			"forged PAI":       sipInvite("12345", local, "spoof-pai-"+store, "P-Asserted-Identity: <tel:+8613900139000>"),
			"forged diversion": sipInvite("13800000000", local, "spoof-div-"+store, "Diversion: <sip:12319@127.0.0.1>;reason=unconditional"),
		} {
			if got := sipFinal(t, attacker, s.SIP, msg, 5*time.Second); !strings.HasPrefix(got, "SIP/2.0 403") {
				t.Errorf("%s from no trunk: %q, want 403", name, got)
			}
		}
		victim.Silent(t, 2*time.Second)

		admin := s.Token(t, "--role", "admin")
		resp, body := s.Do(t, http.MethodGet, "/api/v1/calls", Bearer(admin), nil)
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "spoof-") {
			t.Errorf("call log after refused INVITEs: %d %s", resp.StatusCode, body)
		}

		// The gateway's own text: 202, and the number back to the gateway.
		gwAddr := gw.LocalAddr().String()
		if got := sipFinal(t, gw, s.SIP, sipText(gwAddr, gwAddr, "gw-text-"+store), 10*time.Second); !strings.HasPrefix(got, "SIP/2.0 202") {
			t.Fatalf("the gateway's text: %q, want 202", got)
		}
		gw.SetReadDeadline(time.Now().Add(15 * time.Second))
		buf := make([]byte, 65535)
		n, _, err := gw.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no ticket number came back to the gateway: %v", err)
		}
		number := regexp.MustCompile(`[0-9]{14}`).FindString(string(buf[:n]))
		if !strings.HasPrefix(string(buf[:n]), "MESSAGE ") || number == "" {
			t.Fatalf("the gateway got %q", buf[:n])
		}
		resp, body = s.Do(t, http.MethodGet, "/api/v1/desk/queue?sort=received", Bearer(admin), nil)
		var q struct {
			Tickets []struct {
				Number  string `json:"number"`
				Channel string `json:"channel"`
			} `json:"tickets"`
		}
		if err := json.Unmarshal(body, &q); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("queue: %d %s", resp.StatusCode, body)
		}
		var sms []string
		for _, tk := range q.Tickets {
			if tk.Channel == "sms" {
				sms = append(sms, tk.Number)
			}
		}
		if len(sms) != 1 || sms[0] != number {
			t.Fatalf("sms tickets in the queue: %v, want only the gateway's %s", sms, number)
		}
	})
}

// Agents' passwords: a weak one is refused by the command line; guessing
// one extension's password is cut off after five tries, across two
// instances on PostgreSQL and Redis, even for the right password then;
// another extension still registers; a captured REGISTER replayed gets a
// fresh challenge.
func TestSIPPasswordGuessing(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		s := Start(t, store, Options{Env: map[string]string{"YIHAO_SIP_TRUNKS": "127.0.0.6/32"}})
		for pw, want := range map[string]string{"2001-pw": "at least 10", "1380013800": "digits only", "agent-2001-x": "extension", "password123": "commonest"} {
			_, errOut, err := s.Command(pw+"\n", "agent", "add", "--ext", "2001", "--password", "-")
			if err == nil || !strings.Contains(errOut, want) || strings.Contains(errOut, pw) {
				t.Errorf("agent add with %q: %v %q, want refused saying %q", pw, err, errOut, want)
			}
		}
		s.MustCommand(t, "wang.fang-desk7\n", "agent", "add", "--ext", "2001", "--password", "-")
		s.MustCommand(t, "li.qiang-desk8\n", "agent", "add", "--ext", "2002", "--password", "-")

		servers := []*Server{s}
		if store == Postgres {
			// A second instance on the same database and Redis.
			s2 := Start(t, store, Options{Env: map[string]string{
				"YIHAO_SIP_TRUNKS":   "127.0.0.6/32",
				"YIHAO_DATABASE_URL": s.envValue("YIHAO_DATABASE_URL"),
				"YIHAO_REDIS_PREFIX": s.envValue("YIHAO_REDIS_PREFIX"),
			}})
			servers = append(servers, s2)
		}

		// The replay first (2002's own registration, captured).
		ph := udpConn(t, "127.0.0.1:0")
		status, nonce := sipRegister(t, ph, s.SIP, "2002", "")
		if !strings.HasPrefix(status, "SIP/2.0 401") {
			t.Fatalf("REGISTER: %q", status)
		}
		auth := sipDigest(s.SIP, "2002", "li.qiang-desk8", nonce, 1)
		if status, _ := sipRegister(t, ph, s.SIP, "2002", auth); !strings.HasPrefix(status, "SIP/2.0 200") {
			t.Fatalf("REGISTER with the right password: %q", status)
		}
		for _, srv := range servers {
			if status, _ := sipRegister(t, udpConn(t, "127.0.0.1:0"), srv.SIP, "2002", auth); !strings.HasPrefix(status, "SIP/2.0 401") {
				t.Errorf("replayed REGISTER: %q, want 401", status)
			}
		}

		// Five guesses for 2001, each from another address (as a guesser
		// rotating sources would), spread over the instances.
		for i := range 5 {
			srv := servers[i%len(servers)]
			c := udpConn(t, fmt.Sprintf("127.0.1.%d:0", i+1))
			_, nonce := sipRegister(t, c, srv.SIP, "2001", "")
			if status, _ := sipRegister(t, c, srv.SIP, "2001", sipDigest(srv.SIP, "2001", "guess-"+strconv.Itoa(i)+"-pw", nonce, 1)); !strings.HasPrefix(status, "SIP/2.0 403") {
				t.Fatalf("guess %d: %q, want 403", i+1, status)
			}
		}
		for i, srv := range servers {
			c := udpConn(t, fmt.Sprintf("127.0.2.%d:0", i+1))
			_, nonce := sipRegister(t, c, srv.SIP, "2001", "")
			if status, _ := sipRegister(t, c, srv.SIP, "2001", sipDigest(srv.SIP, "2001", "wang.fang-desk7", nonce, 1)); !strings.HasPrefix(status, "SIP/2.0 503") {
				t.Fatalf("the right password after five guesses: %q, want 503", status)
			}
		}
		// 2002 is untouched.
		c := udpConn(t, "127.0.3.1:0")
		_, nonce = sipRegister(t, c, servers[len(servers)-1].SIP, "2002", "")
		if status, _ := sipRegister(t, c, servers[len(servers)-1].SIP, "2002", sipDigest(servers[len(servers)-1].SIP, "2002", "li.qiang-desk8", nonce, 1)); !strings.HasPrefix(status, "SIP/2.0 200") {
			t.Fatalf("2002 during 2001's lockout: %q", status)
		}
	})
}

// envValue is the value of one of the server's environment variables.
func (s *Server) envValue(name string) string {
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// udpConn is a UDP socket of the test's own on addr.
func udpConn(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sipFinal sends msg from c to server and returns the first final answer
// (the whole message), or "" after wait.
func sipFinal(t *testing.T, c *net.UDPConn, server, msg string, wait time.Duration) string {
	t.Helper()
	to, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	if _, err := c.WriteToUDP([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65535)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		m := string(buf[:n])
		if from.String() != to.String() || !strings.HasPrefix(m, "SIP/2.0 ") || strings.HasPrefix(m, "SIP/2.0 1") {
			continue
		}
		return m
	}
}

// sipText is a MESSAGE to 12345 sent from local whose From and Contact
// name replyTo (where a spoofer wants the ticket number to go).
func sipText(local, replyTo, id string, extra ...string) string {
	body := "小区门口井盖缺失"
	return fmt.Sprintf("MESSAGE sip:12345@127.0.0.1 SIP/2.0\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:13900139000@%s>;tag=t-%s\n"+
		"To: <sip:12345@127.0.0.1>\n"+
		"Call-ID: %s\n"+
		"CSeq: 1 MESSAGE\n"+
		"Contact: <sip:13900139000@%s>\n"+
		"%s"+
		"Content-Type: text/plain;charset=UTF-8\n"+
		"Content-Length: %d\n\n%s", local, id, replyTo, id, id, replyTo, headers(extra), len(body), body)
}

// sipInvite is an INVITE to line from local.
func sipInvite(line, local, id string, extra ...string) string {
	return fmt.Sprintf("INVITE sip:%s@127.0.0.1 SIP/2.0\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:13800138000@%s>;tag=t-%s\n"+
		"To: <sip:%s@127.0.0.1>\n"+
		"Call-ID: %s\n"+
		"CSeq: 1 INVITE\n"+
		"Contact: <sip:13800138000@%s>\n"+
		"%s"+
		"Content-Length: 0\n\n", line, local, id, local, id, line, id, local, headers(extra))
}

func headers(hs []string) string {
	out := ""
	for _, h := range hs {
		out += h + "\n"
	}
	return out
}

var nonceParam = regexp.MustCompile(`nonce="([^"]+)"`)

// sipRegister sends a REGISTER for ext from c with auth ("" for none) and
// returns the final answer's status line and, for a 401, its nonce.
func sipRegister(t *testing.T, c *net.UDPConn, server, ext, auth string) (status, nonce string) {
	t.Helper()
	id := strings.ToLower(rand.Text()[:12])
	local := c.LocalAddr().String()
	if auth != "" {
		auth = "Authorization: " + auth + "\n"
	}
	msg := fmt.Sprintf("REGISTER sip:%s SIP/2.0\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-reg-%s;rport\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:%s@127.0.0.1>;tag=r%s\n"+
		"To: <sip:%s@127.0.0.1>\n"+
		"Call-ID: reg-%s@attacks\n"+
		"CSeq: 1 REGISTER\n"+
		"Contact: <sip:%s@%s>\n"+
		"Expires: 600\n%s"+
		"Content-Length: 0\n\n", server, local, id, ext, id, ext, id, ext, local, auth)
	res := sipFinal(t, c, server, msg, 5*time.Second)
	if m := nonceParam.FindStringSubmatch(res); m != nil {
		nonce = m[1]
	}
	status, _, _ = strings.Cut(res, "\r\n")
	return status, nonce
}

// sipDigest is a phone's Authorization for ext with pw on nonce (RFC 2617,
// MD5, qop auth, realm yihao).
func sipDigest(server, ext, pw, nonce string, nc int) string {
	h := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	uri := "sip:" + server
	resp := h(fmt.Sprintf("%s:%s:%08x:%s:auth:%s", h(ext+":yihao:"+pw), nonce, nc, "a77ac4", h("REGISTER:"+uri)))
	return fmt.Sprintf(`Digest username="%s",realm="yihao",nonce="%s",uri="%s",response="%s",algorithm=MD5,qop=auth,nc=%08x,cnonce="a77ac4"`,
		ext, nonce, uri, resp, nc)
}

// A flood from one address is cut off early by the default per-source
// limit (503), while the carrier's trunk, bringing everyone's calls from
// one address, is never limited.
func TestSIPSourceFlood(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		s := Start(t, store, Options{Env: map[string]string{"YIHAO_SIP_TRUNKS": "127.0.0.6/32"}})
		count := func(from string) (refused int) {
			c := udpConn(t, from)
			for range 40 {
				if status, _ := sipRegister(t, c, s.SIP, "2001", ""); strings.HasPrefix(status, "SIP/2.0 503") {
					refused++
				}
			}
			return refused
		}
		if n := count("127.0.4.1:0"); n < 10 {
			t.Errorf("%d of 40 requests from one address refused; want the default limit (60 a minute, burst 20) to cut in", n)
		}
		if n := count("127.0.0.6:0"); n != 0 {
			t.Errorf("%d of 40 requests from the trunk refused, want none", n)
		}
	})
}
