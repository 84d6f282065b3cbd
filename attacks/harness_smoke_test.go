package attacks

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHarness checks the harness itself on both stores: the server
// answers, the command line reaches its database, a token made there is
// taken by the running server, and an unauthenticated SIP OPTIONS is answered.
func TestHarness(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		s := Start(t, store, Options{})
		resp, _ := s.Do(t, http.MethodGet, "/readyz", nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz: %d", resp.StatusCode)
		}
		number, _ := s.Report(t, "小区门口井盖缺失", "13800138000")
		admin := s.Token(t, "--role", "admin")
		resp, body := s.Do(t, http.MethodGet, "/api/v1/tickets/"+number, Bearer(admin), nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), number) {
			t.Fatalf("GET /api/v1/tickets/%s with an admin token: %d %s", number, resp.StatusCode, body)
		}
		resp, _ = s.Do(t, http.MethodGet, "/api/v1/tickets/"+number, Bearer(admin+"x"), nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET /api/v1/tickets/%s with a wrong token: %d, want 401", number, resp.StatusCode)
		}
		status := s.SIPExchange(t, `OPTIONS sip:`+s.SIP+` SIP/2.0
Via: SIP/2.0/UDP {{local}};branch=z9hG4bK-harness-1
Max-Forwards: 70
From: <sip:probe@127.0.0.1>;tag=h1
To: <sip:`+s.SIP+`>
Call-ID: harness-options-1
CSeq: 1 OPTIONS
Content-Length: 0

`, 5*time.Second)
		if !strings.HasPrefix(status, "SIP/2.0 ") {
			t.Fatalf("OPTIONS got no final answer (%q)", status)
		}
	})
}
