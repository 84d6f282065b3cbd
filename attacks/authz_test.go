package attacks

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// authzStaff are the staff accounts of the access attacks: login name,
// role, department.
var authzStaff = [][3]string{
	{"ops.admin", "admin", ""},
	{"disp.zhao", "dispatcher", ""},
	{"agent.wang", "agent", ""},
	{"li.swj", "liaison", "swj"}, // the 市水务局 liaison: the ticket is theirs
	{"li.cgw", "liaison", "cgw"}, // the 城管委 liaison: another department
}

// TestTicketAccessPolicy attacks the ticket doors of a running server on
// both stores with every kind of credential: staff of every role, a
// liaison of the ticket's department and of another, Open311 and CTI
// keys, no credentials. A slice of desks/authz_test.go's route × caller
// table, end to end: the staff API, the desks' API and page, the call log,
// Open311 updates, and the tracking token at rest.
func TestTicketAccessPolicy(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		tokens := map[string]string{}
		s := Start(t, store, Options{NoSIP: true, Setup: func(s *Server) {
			for _, u := range authzStaff {
				args := []string{"user", "add", "--name", u[0], "--role", u[1], "--password", "-"}
				if u[2] != "" {
					args = append(args, "--department", u[2])
				}
				s.MustCommand(t, "a long enough password\n", args...)
				tokens[u[0]] = s.Token(t, "--user", u[0])
			}
			tokens["swj-system"] = s.Token(t, "--role", "liaison", "--department", "swj", "--name", "swj-system")
			tokens["fms"] = s.Token(t, "--role", "open311", "--name", "fms")
			tokens["other-app"] = s.Token(t, "--role", "open311", "--name", "other-app")
			tokens["pbx"] = s.Token(t, "--role", "cti", "--name", "pbx")

			// A liaison token for no department cannot be made.
			out, errOut, err := s.Command("", "token", "create", "--role", "liaison", "--name", "nodept")
			if err == nil || strings.TrimSpace(out) != "" || !strings.Contains(errOut+errString(err), "department") {
				t.Errorf("token create --role liaison without --department: %v %q %q; want a refusal naming the department", err, out, errOut)
			}
		}})

		const phone, phoneE164, masked = "13800138000", "+8613800138000", "138****8000"
		number, track := s.Report(t, "小区门口井盖缺失", phone)
		get := func(path, token string) (int, string) {
			t.Helper()
			var h http.Header
			if token != "" {
				h = Bearer(token)
			}
			resp, b := s.Do(t, http.MethodGet, path, h, nil)
			return resp.StatusCode, string(b)
		}
		if code, body := get("/api/v1/tickets/"+number, tokens["ops.admin"]); code != http.StatusOK || !strings.Contains(body, `"department":"swj"`) {
			t.Fatalf("the report did not go to swj: %d %s", code, body)
		}

		// The staff view of the web API and the desks' API, caller by caller.
		for _, tc := range []struct {
			who        string
			web, desk  int
			webPhone   string // what the web view shows of the phone
			deskAccess bool
		}{
			{"ops.admin", 200, 200, phoneE164, true},
			{"disp.zhao", 200, 200, phoneE164, true},
			{"agent.wang", 200, 200, phoneE164, true},
			{"li.swj", 200, 200, masked, true},
			{"swj-system", 200, 200, masked, true},
			{"li.cgw", 404, 404, "", false}, // as if there were no such ticket
			{"fms", 403, 403, "", false},
			{"pbx", 403, 403, "", false},
			{"", 401, 401, "", false},
		} {
			code, body := get("/api/v1/tickets/"+number, tokens[tc.who])
			if code != tc.web {
				t.Errorf("GET /api/v1/tickets as %q: %d, want %d: %.200s", tc.who, code, tc.web, body)
			}
			if tc.webPhone != "" && !strings.Contains(body, tc.webPhone) {
				t.Errorf("GET /api/v1/tickets as %q: the phone is not shown as %s: %.300s", tc.who, tc.webPhone, body)
			}
			if tc.webPhone != phoneE164 && (strings.Contains(body, phone) || strings.Contains(body, phoneE164)) {
				t.Errorf("GET /api/v1/tickets as %q shows the full phone", tc.who)
			}
			if !tc.deskAccess && strings.Contains(body, "井盖") {
				t.Errorf("GET /api/v1/tickets as %q shows the ticket", tc.who)
			}
			code, body = get("/api/v1/desk/tickets/"+number, tokens[tc.who])
			if code != tc.desk || strings.Contains(body, phoneE164) || (!tc.deskAccess && strings.Contains(body, "井盖")) {
				t.Errorf("GET /api/v1/desk/tickets as %q: %d (want %d): %.200s", tc.who, code, tc.desk, body)
			}
		}
		if code, _ := get("/desk/tickets/"+number, tokens["li.cgw"]); code != http.StatusNotFound {
			t.Errorf("the desk page of another department's ticket: %d, want 404", code)
		}
		// The admin's full view was audited with the fields it showed.
		if code, body := get("/desk/audit?ticket="+number, tokens["disp.zhao"]); code != http.StatusOK ||
			!strings.Contains(body, "door=api fields=name,phone") || !strings.Contains(body, "ops.admin") {
			t.Errorf("the audit log lacks the staff view with the phone: %d %.400s", code, body)
		}

		// The call log: full numbers to agents and admins only.
		ev := `{"event":"newCall","callId":"atk-1","from":"13912345678","to":"12345","direction":"in"}`
		if resp, b := s.Do(t, http.MethodPost, "/api/v1/cti/"+tokens["pbx"], http.Header{"Content-Type": {"application/json"}},
			strings.NewReader(ev)); resp.StatusCode != http.StatusOK {
			t.Fatalf("CTI event: %d %s", resp.StatusCode, b)
		}
		for _, tc := range []struct {
			who  string
			code int
			full bool
		}{
			{"agent.wang", 200, true}, {"ops.admin", 200, true}, {"disp.zhao", 200, false},
			{"li.swj", 403, false}, {"fms", 403, false}, {"pbx", 403, false}, {"", 401, false},
		} {
			code, body := get("/api/v1/calls", tokens[tc.who])
			if code != tc.code || strings.Contains(body, "13912345678") != tc.full {
				t.Errorf("GET /api/v1/calls as %q: %d (want %d), full number shown %v (want %v)", tc.who, code, tc.code,
					strings.Contains(body, "13912345678"), tc.full)
			}
		}

		// Open311: one client's key cannot update or reopen another's request.
		form := url.Values{"api_key": {tokens["fms"]}, "service_code": {"0103"}, "lat": {"39.9042"}, "long": {"116.4074"},
			"description": {"污水井盖缺失"}, "attribute[cover_state]": {"missing"}}
		resp, b := s.Do(t, http.MethodPost, "/open311/v2/requests.json", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			strings.NewReader(form.Encode()))
		var created []struct {
			ID string `json:"service_request_id"`
		}
		if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &created) != nil || len(created) != 1 {
			t.Fatalf("Open311 request: %d %s", resp.StatusCode, b)
		}
		update := func(key string) int {
			f := url.Values{"api_key": {key}, "service_request_id": {created[0].ID}, "status": {"OPEN"}, "description": {"补充"}}
			resp, _ := s.Do(t, http.MethodPost, "/open311/v2/servicerequestupdates.json",
				http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, strings.NewReader(f.Encode()))
			return resp.StatusCode
		}
		if code := update(tokens["other-app"]); code != http.StatusForbidden {
			t.Errorf("another client's update: %d, want 403", code)
		}
		if code := update(tokens["fms"]); code != http.StatusCreated {
			t.Errorf("the submitting client's update: %d, want 201", code)
		}

		// The tracking token works, and a copy of the embedded database does
		// not hold it.
		if code, _ := get("/api/v1/tickets/"+number+"?token="+track, ""); code != http.StatusOK {
			t.Errorf("the tracking link: %d", code)
		}
		if store == SQLite {
			dir := filepath.Join(s.Dir, "data")
			files, _ := filepath.Glob(filepath.Join(dir, "yihao.db*"))
			if len(files) == 0 {
				t.Fatalf("no database files in %s", dir)
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte(track)) {
					t.Errorf("%s holds the tracking token in plain text", filepath.Base(f))
				}
			}
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
