package hotline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
	"github.com/yihao-city/yihao/ticketing/sqlite"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

var t0 = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

type env struct {
	store  ticketing.Store
	srv    *httptest.Server
	mu     sync.Mutex
	now    time.Time
	tokens map[ticketing.Role]string
}

func (e *env) clock() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }
func (e *env) set(t time.Time)  { e.mu.Lock(); e.now = t; e.mu.Unlock() }

func sqliteStore(t testing.TB) ticketing.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func postgresStore(t testing.TB) ticketing.Store {
	s, err := postgres.Open(context.Background(), pgtest.SchemaURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// bothStores are the stores a test or benchmark runs on, each opened fresh.
var bothStores = []struct {
	name string
	open func(testing.TB) ticketing.Store
}{{"sqlite", sqliteStore}, {"postgres", postgresStore}}

func newEnv(t testing.TB, s ticketing.Store) *env {
	t.Helper()
	e := &env{store: s, now: t0, tokens: map[ticketing.Role]string{}}
	for _, r := range []ticketing.Role{ticketing.RoleCTI, ticketing.RoleAdmin, ticketing.RoleAgent, ticketing.RoleDispatcher, ticketing.RoleLiaison} {
		dept := ""
		if r == ticketing.RoleLiaison {
			dept = "swj"
		}
		secret, tok, err := ticketing.NewDepartmentToken(r, dept, string(r), t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateToken(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		e.tokens[r] = secret
	}
	h := hotline.New(hotline.Config{Now: e.clock}, s, nil, nil)
	e.srv = httptest.NewServer(h.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// postJSON posts a CTI event as JSON and returns the status and body.
func (e *env) postJSON(t testing.TB, token string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	return e.do(t, token, "application/json", bytes.NewReader(b))
}

func (e *env) postForm(t testing.TB, token string, v url.Values) (int, map[string]any) {
	t.Helper()
	return e.do(t, token, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
}

func (e *env) do(t testing.TB, token, ct string, body io.Reader) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(e.srv.URL+"/api/v1/cti/"+token, ct, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (e *env) get(t testing.TB, path string, role ticketing.Role, out any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[role])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

type callsResponse struct {
	Calls []struct {
		CallID      string   `json:"call_id"`
		Line        string   `json:"line"`
		Caller      string   `json:"caller"`
		Agent       string   `json:"agent"`
		Cause       string   `json:"cause"`
		WaitSeconds float64  `json:"wait_seconds"`
		TalkSeconds float64  `json:"talk_seconds"`
		Tickets     []string `json:"tickets"`
	} `json:"calls"`
}

const window = "?from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z"

func TestCTIAnsweredCall(t *testing.T) {
	e := newEnv(t, sqliteStore(t))
	cti := e.tokens[ticketing.RoleCTI]
	steps := []struct {
		after time.Duration
		body  map[string]any
	}{
		{0, map[string]any{"event": "newCall", "from": "13800138000", "to": "12345", "direction": "in", "callId": "pbx-1", "user": nil}},
		{8 * time.Second, map[string]any{"event": "answer", "from": "13800138000", "to": "12345", "direction": "in", "callId": "pbx-1",
			"user": []string{"王芳"}, "answeringNumber": "2001"}},
		{68 * time.Second, map[string]any{"event": "hangup", "from": "13800138000", "to": "12345", "direction": "in", "callId": "pbx-1",
			"cause": "normalClearing", "answeringNumber": "2001"}},
	}
	for _, s := range steps {
		e.set(t0.Add(s.after))
		if code, out := e.postJSON(t, cti, s.body); code != 200 {
			t.Fatalf("%v: %d %v", s.body["event"], code, out)
		}
	}
	var got callsResponse
	if code := e.get(t, "/api/v1/calls"+window, ticketing.RoleAgent, &got); code != 200 || len(got.Calls) != 1 {
		t.Fatalf("calls: %d %+v", code, got)
	}
	c := got.Calls[0]
	if c.CallID != "pbx-1" || c.Line != "12345" || c.Caller != "+8613800138000" || c.Agent != "王芳" || c.Cause != "answered" ||
		c.WaitSeconds != 8 || c.TalkSeconds != 60 {
		t.Errorf("call = %+v", c)
	}
}

func TestCTIAbandonedFormCallback(t *testing.T) {
	e := newEnv(t, sqliteStore(t))
	cti := e.tokens[ticketing.RoleCTI]
	ev := url.Values{"event": {"newCall"}, "from": {"010-65123456"}, "to": {"12319"}, "direction": {"in"}, "callId": {"pbx-2"}}
	if code, out := e.postForm(t, cti, ev); code != 200 {
		t.Fatalf("newCall: %d %v", code, out)
	}
	e.set(t0.Add(25 * time.Second))
	ev.Set("event", "hangup")
	ev.Set("cause", "cancel")
	for range 2 { // a retried hangup changes nothing
		if code, out := e.postForm(t, cti, ev); code != 200 || out["cause"] != "abandoned" {
			t.Fatalf("hangup: %d %v", code, out)
		}
	}
	var got callsResponse
	if code := e.get(t, "/api/v1/calls"+window+"&callback=1", ticketing.RoleAdmin, &got); code != 200 || len(got.Calls) != 1 {
		t.Fatalf("callback list: %d %+v", code, got)
	}
	if c := got.Calls[0]; c.CallID != "pbx-2" || c.Cause != "abandoned" || c.WaitSeconds != 25 || c.Caller != "+861065123456" {
		t.Errorf("call = %+v", c)
	}
	// Once called back it leaves the list.
	if err := e.store.MarkCalledBack(context.Background(), "pbx-2", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if e.get(t, "/api/v1/calls"+window+"&callback=1", ticketing.RoleAdmin, &got); len(got.Calls) != 0 {
		t.Errorf("callback list after the callback: %+v", got)
	}
}

func TestCTIRejects(t *testing.T) {
	e := newEnv(t, sqliteStore(t))
	cti := e.tokens[ticketing.RoleCTI]
	good := func() map[string]any {
		return map[string]any{"event": "newCall", "from": "13800138000", "to": "12345", "direction": "in", "callId": "x-1"}
	}
	with := func(k string, v any) map[string]any { b := good(); b[k] = v; return b }
	for _, tc := range []struct {
		name  string
		token string
		ct    string
		body  string
		code  int
		field string
	}{
		{"unknown token", "yh_nope", "application/json", mustJSON(good()), 401, ""},
		{"staff token", e.tokens[ticketing.RoleAdmin], "application/json", mustJSON(good()), 403, ""},
		{"no event", cti, "application/json", mustJSON(with("event", "")), 400, "event"},
		{"unknown event", cti, "application/json", mustJSON(with("event", "ring")), 400, "event"},
		{"no callId", cti, "application/json", mustJSON(with("callId", "")), 400, "callId"},
		{"bad direction", cti, "application/json", mustJSON(with("direction", "up")), 400, "direction"},
		{"newCall without direction", cti, "application/json", mustJSON(with("direction", "")), 400, "direction"},
		{"from not a string", cti, "application/json", mustJSON(with("from", 138)), 400, "from"},
		{"user an object", cti, "application/json", mustJSON(with("user", map[string]int{"a": 1})), 400, "user"},
		{"long cause", cti, "application/json", mustJSON(with("cause", strings.Repeat("x", 100))), 400, "cause"},
		{"broken JSON", cti, "application/json", `{"event":`, 400, ""},
		{"form without callId", cti, "application/x-www-form-urlencoded", "event=newCall&direction=in", 400, "callId"},
		{"broken form", cti, "application/x-www-form-urlencoded", "event=%zz", 400, ""},
		{"xml", cti, "application/xml", "<x/>", 415, "Content-Type"},
		{"too large", cti, "application/json", `{"event":"` + strings.Repeat("x", 20000) + `"}`, 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := e.do(t, tc.token, tc.ct, strings.NewReader(tc.body))
			if code != tc.code {
				t.Fatalf("status %d, want %d: %v", code, tc.code, out)
			}
			er, _ := out["error"].(map[string]any)
			if er == nil || er["code"] == "" {
				t.Fatalf("no error object: %v", out)
			}
			if tc.field != "" && er["field"] != tc.field {
				t.Errorf("field %v, want %s", er["field"], tc.field)
			}
		})
	}
	cs, err := e.store.Calls(context.Background(), ticketing.CallFilter{})
	if err != nil || len(cs) != 0 {
		t.Errorf("rejected events stored calls: %v %v", cs, err)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestStaffAPIRolesAndMasking(t *testing.T) {
	e := newEnv(t, sqliteStore(t))
	e.postJSON(t, e.tokens[ticketing.RoleCTI], map[string]any{"event": "newCall", "from": "+86 138 0013 8000", "to": "12345", "direction": "in", "callId": "m-1"})
	for _, tc := range []struct {
		role   ticketing.Role
		code   int
		caller string
	}{
		{ticketing.RoleAdmin, 200, "+8613800138000"},
		{ticketing.RoleAgent, 200, "+8613800138000"},
		{ticketing.RoleDispatcher, 200, "138****8000"},
		{ticketing.RoleLiaison, 403, ""},
		{ticketing.RoleCTI, 403, ""},
		{"", 401, ""},
	} {
		var got callsResponse
		code := e.get(t, "/api/v1/calls"+window, tc.role, &got)
		if code != tc.code {
			t.Errorf("%q: status %d, want %d", tc.role, code, tc.code)
			continue
		}
		if tc.code == 200 && (len(got.Calls) != 1 || got.Calls[0].Caller != tc.caller) {
			t.Errorf("%q: calls %+v, want caller %s", tc.role, got.Calls, tc.caller)
		}
		if code := e.get(t, "/api/v1/hotline/stats"+window, tc.role, nil); code != tc.code {
			t.Errorf("%q stats: status %d, want %d", tc.role, code, tc.code)
		}
	}
	// Each read of callers' full numbers is audited (admin, agent); the
	// dispatcher's masked read is not a read of personal data.
	es, err := e.store.Audit(context.Background(), ticketing.AuditFilter{Action: "view_calls"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[1].Actor != "token:admin" || es[0].Actor != "token:agent" ||
		!strings.HasPrefix(es[0].Detail, "door=calls fields=phone calls=1") || es[0].Source == "" {
		t.Errorf("audit of the call log reads: %+v", es)
	}
	for _, q := range []string{"?from=yesterday", "?from=2026-11-25T00:00:00Z&to=2026-11-24T00:00:00Z",
		"?from=2026-10-01T00:00:00Z&to=2026-11-25T00:00:00Z", "?cause=lost", "?callback=maybe", "?limit=0"} {
		var out map[string]map[string]string
		if code := e.get(t, "/api/v1/calls"+q, ticketing.RoleAdmin, &out); code != 400 || out["error"]["field"] == "" {
			t.Errorf("GET calls%s: %d %v, want 400 naming the field", q, code, out)
		}
	}
	// The default range is the last 24 hours before now.
	var got callsResponse
	e.set(t0.Add(23 * time.Hour))
	if e.get(t, "/api/v1/calls", ticketing.RoleAdmin, &got); len(got.Calls) != 1 {
		t.Errorf("within 24 h: %+v", got)
	}
	e.set(t0.Add(25 * time.Hour))
	if e.get(t, "/api/v1/calls", ticketing.RoleAdmin, &got); len(got.Calls) != 0 {
		t.Errorf("after 24 h: %+v", got)
	}
}

// postFixture sends storetest.HotlineFixture through the webhook, form-encoded.
func postFixture(t *testing.T, e *env) {
	t.Helper()
	for _, ev := range storetest.HotlineFixture() {
		e.set(ev.At)
		v := url.Values{"event": {string(ev.Type)}, "callId": {ev.CallID}, "from": {ev.From}, "to": {ev.To},
			"direction": {string(ev.Direction)}, "user[]": {ev.User}, "cause": {ev.Cause}}
		if code, out := e.postForm(t, e.tokens[ticketing.RoleCTI], v); code != 200 {
			t.Fatalf("%s %s: %d %v", ev.Type, ev.CallID, code, out)
		}
	}
}

func TestStatsFixture(t *testing.T) {
	e := newEnv(t, sqliteStore(t))
	postFixture(t, e)
	var got map[string]any
	if code := e.get(t, "/api/v1/hotline/stats?from=2026-11-25T09:00:00Z&to=2026-11-25T10:00:00Z", ticketing.RoleDispatcher, &got); code != 200 {
		t.Fatalf("stats: %d %v", code, got)
	}
	// Hand-computed: see storetest.HotlineFixture.
	want := mustJSON(map[string]any{
		"from": "2026-11-25T09:00:00Z", "to": "2026-11-25T10:00:00Z",
		"total": map[string]any{"offered": 5, "answered": 3, "answered_within_15s": 2, "abandoned": 1,
			"answer_rate": 0.6, "answer_rate_15s": 0.4, "abandon_rate": 0.2, "avg_wait_seconds": 23, "avg_talk_seconds": 70},
		"lines": []map[string]any{
			{"line": "12319", "offered": 2, "answered": 0, "answered_within_15s": 0, "abandoned": 1,
				"answer_rate": 0, "answer_rate_15s": 0, "abandon_rate": 0.5, "avg_wait_seconds": 35, "avg_talk_seconds": 0},
			{"line": "12345", "offered": 3, "answered": 3, "answered_within_15s": 2, "abandoned": 0,
				"answer_rate": 1, "answer_rate_15s": 2.0 / 3, "abandon_rate": 0, "avg_wait_seconds": 15, "avg_talk_seconds": 70},
		},
		"agents": []map[string]any{
			{"agent": "2001", "offered": 2, "answered": 2, "answered_within_15s": 2, "abandoned": 0,
				"answer_rate": 1, "answer_rate_15s": 1, "abandon_rate": 0, "avg_wait_seconds": 12.5, "avg_talk_seconds": 75},
			{"agent": "2002", "offered": 1, "answered": 1, "answered_within_15s": 0, "abandoned": 0,
				"answer_rate": 1, "answer_rate_15s": 0, "abandon_rate": 0, "avg_wait_seconds": 20, "avg_talk_seconds": 60},
		},
	})
	var wantMap map[string]any
	json.Unmarshal([]byte(want), &wantMap)
	if mustJSON(got) != mustJSON(wantMap) {
		t.Errorf("stats\n got %s\nwant %s", mustJSON(got), mustJSON(wantMap))
	}
	var line struct{ Total map[string]any }
	e.get(t, "/api/v1/hotline/stats?from=2026-11-25T09:00:00Z&to=2026-11-25T10:00:00Z&line=12319", ticketing.RoleAdmin, &line)
	if line.Total["offered"] != 2.0 || line.Total["abandoned"] != 1.0 {
		t.Errorf("line 12319: %v", line.Total)
	}
}

// BenchmarkWebhook posts CTI events (newCall, answer, hangup of distinct
// calls) through the HTTP handler from many goroutines.
//
//	go test ./channels/hotline -run '^$' -bench Webhook -benchtime 5s
func BenchmarkWebhook(b *testing.B) {
	for _, st := range bothStores {
		b.Run(st.name, func(b *testing.B) {
			e := newEnv(b, st.open(b))
			e.set(time.Now())
			url := e.srv.URL + "/api/v1/cti/" + e.tokens[ticketing.RoleCTI]
			tr := &http.Transport{MaxIdleConnsPerHost: 256}
			client := &http.Client{Transport: tr}
			b.Cleanup(tr.CloseIdleConnections)
			var n atomic.Int64
			events := []string{"newCall", "answer", "hangup"}
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1) - 1
					body := fmt.Sprintf("event=%s&callId=bench-%d&from=138%08d&to=12345&direction=in&user=2001&cause=normalClearing",
						events[i%3], i/3, i/3)
					resp, err := client.Post(url, "application/x-www-form-urlencoded", strings.NewReader(body))
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func (e *env) post(t testing.TB, path string, role ticketing.Role, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[role])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Agents work the callback list over the API: mark a callback, link the
// ticket logged from a call; other roles and bad input are refused.
func TestCallbackAndTicketLinkAPI(t *testing.T) {
	e := newEnv(t, sqliteStore(t))
	cti := e.tokens[ticketing.RoleCTI]
	ev := url.Values{"event": {"newCall"}, "from": {"13800138000"}, "to": {"12345"}, "direction": {"in"}, "callId": {"pbx-9"}}
	e.postForm(t, cti, ev)
	ev.Set("event", "hangup")
	ev.Set("cause", "cancel")
	e.postForm(t, cti, ev)
	number := ticketing.FormatNumber(42, t0)
	tests := []struct {
		name, path string
		role       ticketing.Role
		body       string
		want       int
	}{
		{"dispatcher may not", "/api/v1/calls/pbx-9/callback", ticketing.RoleDispatcher, "", http.StatusForbidden},
		{"no token", "/api/v1/calls/pbx-9/callback", "", "", http.StatusUnauthorized},
		{"unknown call", "/api/v1/calls/nope/callback", ticketing.RoleAgent, "", http.StatusNotFound},
		{"bad number", "/api/v1/calls/pbx-9/tickets", ticketing.RoleAgent, `{"number":"123"}`, http.StatusBadRequest},
		{"malformed", "/api/v1/calls/pbx-9/tickets", ticketing.RoleAgent, `{"number":`, http.StatusBadRequest},
		{"link", "/api/v1/calls/pbx-9/tickets", ticketing.RoleAgent, `{"number":"` + number + `"}`, http.StatusOK},
		{"callback", "/api/v1/calls/pbx-9/callback", ticketing.RoleAgent, "", http.StatusOK},
	}
	for _, tc := range tests {
		if got := e.post(t, tc.path, tc.role, tc.body); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	var got callsResponse
	e.get(t, "/api/v1/calls"+window, ticketing.RoleAdmin, &got)
	if len(got.Calls) != 1 || len(got.Calls[0].Tickets) != 1 || got.Calls[0].Tickets[0] != number {
		t.Errorf("calls = %+v", got.Calls)
	}
	if e.get(t, "/api/v1/calls"+window+"&callback=1", ticketing.RoleAdmin, &got); len(got.Calls) != 0 {
		t.Errorf("the called-back call is still on the callback list: %+v", got.Calls)
	}
}
