package webform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/webform"
	"github.com/yihao-city/yihao/configs"
	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

type env struct {
	svc      *ticketing.Service
	srv      *httptest.Server
	store    *sqlite.Store
	mediaDir string
}

// newEnv serves the web door on the real embedded store and the demo city.
func newEnv(t testing.TB, limiter webform.Limiter) *env {
	t.Helper()
	return newEnvWith(t, limiter, nil, nil)
}

// newEnvWith is newEnv with intake metrics and the client-address resolver
// the binary puts in front of every door (either may be nil).
func newEnvWith(t testing.TB, limiter webform.Limiter, metrics *httpapi.Metrics, trusted []string) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cat, err := routing.LoadCatalogue(bytes.NewReader(configs.DemoCatalogue))
	if err != nil {
		t.Fatal(err)
	}
	router, err := routing.NewRouter(cat)
	if err != nil {
		t.Fatal(err)
	}
	mediaDir := filepath.Join(dir, "media")
	photos, err := media.NewDisk(mediaDir)
	if err != nil {
		t.Fatal(err)
	}
	svc := ticketing.NewService(store, router)
	log := slog.New(slog.DiscardHandler)
	web, err := webform.New(webform.Config{City: cat.City}, svc, photos, store, limiter, log, metrics)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Config{TrustedProxies: trusted, Log: log, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	web.Register(h)
	h.Fallback("/", web.NotFound()...)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{svc: svc, srv: srv, store: store, mediaDir: mediaDir}
}

// tickets counts stored tickets by their creation messages in the outbox.
func (e *env) tickets(t *testing.T) int {
	t.Helper()
	msgs, err := e.store.Outbox(context.Background(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

// trackStatus is the status of the tracking page for number and token.
func (e *env) trackStatus(t *testing.T, number, token string) int {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/t/" + number + "?token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// audits are the audit entries of a ticket's views, oldest first.
func (e *env) audits(t *testing.T, number string) []ticketing.AuditEntry {
	t.Helper()
	es, err := e.store.Audit(context.Background(), ticketing.AuditFilter{Ticket: number, Action: "view"})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(es)
	return es
}

func (e *env) photos(t *testing.T) int {
	t.Helper()
	n := 0
	filepath.WalkDir(e.mediaDir, func(_ string, d fs.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

type errorBody struct {
	Error struct{ Code, Message, Field string } `json:"error"`
}

type created struct {
	Number, Status, Department, Category string
	TrackToken                           string `json:"track_token"`
	RoutingReason                        string `json:"routing_reason"`
}

func (e *env) post(t testing.TB, key, contentType string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/reports", body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (e *env) postJSON(t *testing.T, key, body string) (*http.Response, []byte) {
	t.Helper()
	return e.post(t, key, "application/json", strings.NewReader(body))
}

func TestReportJSON(t *testing.T) {
	e := newEnv(t, nil)
	resp, b := e.postJSON(t, "k-1", `{"text":"小区门口井盖缺失","lat":39.9,"lon":116.4,"address":"东华门街道","contact":{"name":"王","phone":"13800138000"}}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var c created
	json.Unmarshal(b, &c)
	if !ticketing.ValidNumber(c.Number) || c.Status != "dispatched" || c.Department != "swj" || c.TrackToken == "" ||
		!strings.Contains(c.RoutingReason, "井盖缺失") {
		t.Errorf("created = %+v", c)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/v1/tickets/"+c.Number {
		t.Errorf("Location = %q", loc)
	}
	resp, b2 := e.postJSON(t, "k-1", `{"text":"小区门口井盖缺失","lat":39.9,"lon":116.4,"address":"东华门街道","contact":{"name":"王","phone":"13800138000"}}`)
	var c2 created
	json.Unmarshal(b2, &c2)
	// The replay describes the same ticket with a new tracking token (only
	// the first one's digest was stored): the new one replaces it.
	if resp.StatusCode != http.StatusOK || c2.Number != c.Number || c2.TrackToken == "" || c2.TrackToken == c.TrackToken ||
		!bytes.Equal(bytes.ReplaceAll(b, []byte(c.TrackToken), []byte(c2.TrackToken)), b2) {
		t.Errorf("replay: status %d, body %s; want 200 and the same body with a new token", resp.StatusCode, b2)
	}
	if code := e.trackStatus(t, c.Number, c.TrackToken); code != http.StatusNotFound {
		t.Errorf("the replaced token still opens the tracking page (%d)", code)
	}
	if code := e.trackStatus(t, c.Number, c2.TrackToken); code != http.StatusOK {
		t.Errorf("the replay's token: tracking page %d", code)
	}
	resp, b = e.postJSON(t, "k-1", `{"text":"另一件事"}`)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(b), "idempotency_key_reused") {
		t.Errorf("reused key: %d %s", resp.StatusCode, b)
	}
	if n := e.tickets(t); n != 1 {
		t.Errorf("tickets = %d, want 1", n)
	}
}

func TestReportBadInputChangesNothing(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, contentType, key, body string
		status                       int
		code, field                  string
	}{
		{"empty text", "application/json", "", `{"text":"  "}`, 400, "invalid", "text"},
		{"10,000-character text", "application/json", "", `{"text":"` + strings.Repeat("路", 10000) + `"}`, 413, "too_large", "text"},
		{"malformed JSON", "application/json", "", `{"text": "井盖`, 400, "malformed_json", ""},
		{"JSON syntax error", "application/json", "", `{"text" "x"}`, 400, "malformed_json", ""},
		{"empty body", "application/json", "", ``, 400, "malformed_json", ""},
		{"trailing data", "application/json", "", `{"text":"x"} {}`, 400, "malformed_json", ""},
		{"wrong type", "application/json", "", `{"text":5}`, 400, "malformed_json", "text"},
		{"unknown field", "application/json", "", `{"text":"x","colour":"red"}`, 400, "unknown_field", "colour"},
		{"unknown category", "application/json", "", `{"text":"x","category":"9999"}`, 400, "invalid", "category"},
		{"latitude out of range", "application/json", "", `{"text":"x","lat":91,"lon":116}`, 400, "invalid", "lat"},
		{"longitude out of range", "application/json", "", `{"text":"x","lat":39,"lon":-181}`, 400, "invalid", "lon"},
		{"latitude alone", "application/json", "", `{"text":"x","lat":39}`, 400, "invalid", "lon"},
		{"bad phone", "application/json", "", `{"text":"x","contact":{"phone":"<script>"}}`, 400, "invalid", "contact.phone"},
		{"body over 64 KB", "application/json", "", `{"text":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "too_large", ""},
		{"form-encoded", "application/x-www-form-urlencoded", "", `text=x`, 415, "unsupported_media_type", "Content-Type"},
		{"key too long", "application/json", strings.Repeat("k", 200), `{"text":"x"}`, 400, "invalid", "Idempotency-Key"},
		{"NUL byte", "application/json", "", `{"text":"a\u0000b"}`, 400, "invalid", "text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.post(t, tc.key, tc.contentType, strings.NewReader(tc.body))
			var eb errorBody
			if err := json.Unmarshal(b, &eb); err != nil {
				t.Fatalf("not a JSON error: %s", b)
			}
			if resp.StatusCode != tc.status || eb.Error.Code != tc.code || eb.Error.Field != tc.field || eb.Error.Message == "" {
				t.Errorf("got %d %+v; want %d code %q field %q", resp.StatusCode, eb.Error, tc.status, tc.code, tc.field)
			}
		})
	}
	if n := e.tickets(t); n != 0 {
		t.Errorf("bad input stored %d tickets", n)
	}
}

func jpegBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	img.Set(0, 0, color.White)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type file struct {
	name string
	r    io.Reader
}

// multipartBody streams fields and files without holding big files in memory.
func multipartBody(fields map[string]string, files ...file) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		for _, f := range files {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="photos"; filename=%q`, f.name))
			h.Set("Content-Type", "image/jpeg")
			w, err := mw.CreatePart(h)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(w, f.r); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	return pr, mw.FormDataContentType()
}

func TestReportPhotos(t *testing.T) {
	e := newEnv(t, nil)
	photo := jpegBytes(t, 64, 48)
	fields := map[string]string{"text": "路灯不亮", "address": "长安街"}
	send := func(key string, files ...file) (*http.Response, []byte) {
		body, ct := multipartBody(fields, files...)
		return e.post(t, key, ct, body)
	}
	resp, b := send("p-1", file{"a.jpg", bytes.NewReader(photo)}, file{"b.jpg", bytes.NewReader(photo)})
	if resp.StatusCode != 201 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if n := e.photos(t); n != 2 {
		t.Errorf("stored photos = %d, want 2", n)
	}
	resp, _ = send("p-1", file{"a.jpg", bytes.NewReader(photo)}, file{"b.jpg", bytes.NewReader(photo)})
	if resp.StatusCode != 200 || e.photos(t) != 2 {
		t.Errorf("replay: status %d, photos %d; want 200 and still 2", resp.StatusCode, e.photos(t))
	}

	pdf := []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
	tests := []struct {
		name   string
		files  []file
		status int
		code   string
	}{
		{"a PDF renamed .jpg", []file{{"a.jpg", bytes.NewReader(photo)}, {"scan.jpg", bytes.NewReader(pdf)}}, 415, "unsupported_media_type"},
		{"a 30 MB photo", []file{{"big.jpg", io.MultiReader(bytes.NewReader(photo), io.LimitReader(zeros{}, 30<<20))}}, 413, "too_large"},
		{"six photos", []file{{"1.jpg", bytes.NewReader(photo)}, {"2.jpg", bytes.NewReader(photo)}, {"3.jpg", bytes.NewReader(photo)},
			{"4.jpg", bytes.NewReader(photo)}, {"5.jpg", bytes.NewReader(photo)}, {"6.jpg", bytes.NewReader(photo)}}, 413, "too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := send("", tc.files...)
			var eb errorBody
			json.Unmarshal(b, &eb)
			if resp.StatusCode != tc.status || eb.Error.Code != tc.code || eb.Error.Field != "photos" {
				t.Errorf("got %d %s; want %d %s on photos", resp.StatusCode, b, tc.status, tc.code)
			}
		})
	}
	if n, p := e.tickets(t), e.photos(t); n != 1 || p != 2 {
		t.Errorf("after bad uploads: %d tickets, %d photos; want 1 and 2", n, p)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestConcurrentReplays(t *testing.T) {
	e := newEnv(t, nil)
	const n = 20
	var wg sync.WaitGroup
	statuses := make([]int, n)
	numbers := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, b := e.postJSON(t, "same-key", `{"text":"噪音扰民，夜间施工"}`)
			var c created
			json.Unmarshal(b, &c)
			statuses[i], numbers[i] = resp.StatusCode, c.Number
		}()
	}
	wg.Wait()
	createdCount := 0
	for i := range n {
		if statuses[i] == 201 {
			createdCount++
		} else if statuses[i] != 200 {
			t.Errorf("request %d: status %d", i, statuses[i])
		}
		if numbers[i] != numbers[0] {
			t.Errorf("request %d got %s, request 0 got %s", i, numbers[i], numbers[0])
		}
	}
	if createdCount != 1 || e.tickets(t) != 1 {
		t.Errorf("%d answers were 201 and %d tickets stored; want 1 and 1", createdCount, e.tickets(t))
	}
}

func TestGetTicketViews(t *testing.T) {
	e := newEnv(t, nil)
	_, b := e.postJSON(t, "v-1", `{"text":"井盖缺失","contact":{"name":"李","phone":"13800138000"}}`)
	var c created
	json.Unmarshal(b, &c)
	ctx := context.Background()
	token := func(role ticketing.Role) string {
		secret, tok, err := ticketing.NewToken(role, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	admin, open311 := token(ticketing.RoleAdmin), token(ticketing.RoleOpen311)
	liaison := func(dept string) string {
		secret, tok, err := ticketing.NewDepartmentToken(ticketing.RoleLiaison, dept, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	before := e.audits(t, c.Number)
	get := func(query, bearer string) (int, string) {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/tickets/"+c.Number+query, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, query, bearer string
		status              int
		has, hasNot         []string
	}{
		{"citizen", "?token=" + c.TrackToken, "", 200, []string{`"status":"dispatched"`, "市水务局", "已派遣至"}, []string{"13800138000", "138****", `"actor"`, `"contact"`}},
		{"wrong token", "?token=nope", "", 404, []string{"not_found"}, []string{"井盖"}},
		{"no token", "", "", 401, []string{"unauthorized"}, []string{"井盖"}},
		{"admin", "", admin, 200, []string{"13800138000", `"actor":"router"`, `"channel":"web"`}, nil},
		{"liaison sees a masked phone", "", liaison("swj"), 200, []string{"138****8000"}, []string{"13800138000"}},
		{"another department's liaison", "", liaison("jtj"), 404, []string{"not_found"}, []string{"井盖", "138"}},
		{"open311 key", "", open311, 403, []string{"forbidden"}, []string{"井盖"}},
		{"cti key", "", token(ticketing.RoleCTI), 403, []string{"forbidden"}, []string{"井盖"}},
		{"bad bearer", "", "yh_nope", 401, []string{"unauthorized"}, []string{"井盖"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(tc.query, tc.bearer)
			if status != tc.status {
				t.Fatalf("status %d: %s", status, body)
			}
			for _, s := range tc.has {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q: %s", s, body)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(body, s) {
					t.Errorf("body has %q: %s", s, body)
				}
			}
		})
	}
	// Two staff views left: the admin's with the phone in full, the
	// liaison's with the name only; nothing else was audited.
	got := e.audits(t, c.Number)[len(before):]
	if len(got) != 2 || got[0].Actor != "token:test" || got[0].Detail != "door=api fields=name,phone" ||
		got[1].Role != ticketing.RoleLiaison || got[1].Detail != "door=api fields=name" {
		t.Errorf("audit of the staff views = %+v", got)
	}
}

func TestFormErrorKeepsText(t *testing.T) {
	e := newEnv(t, nil)
	body, ct := multipartBody(map[string]string{"text": "我的描述还在", "lat": "123", "lon": "200", "idempotency_key": "form-x"})
	resp, err := http.Post(e.srv.URL+"/report", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	if resp.StatusCode != 400 || !strings.Contains(page, `id="form-error"`) || !strings.Contains(page, "位置坐标无效") ||
		!strings.Contains(page, "我的描述还在") || !strings.Contains(page, `value="form-x"`) {
		t.Errorf("status %d, page:\n%s", resp.StatusCode, page)
	}
	if e.tickets(t) != 0 {
		t.Error("a refused form stored a ticket")
	}
}

func TestFormSubmitRedirectsToTracking(t *testing.T) {
	e := newEnv(t, nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	body, ct := multipartBody(map[string]string{"text": "楼下垃圾堆放多日无人清运", "idempotency_key": "form-y"})
	resp, err := client.Post(e.srv.URL+"/report", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/t/") {
		t.Fatalf("status %d, Location %q", resp.StatusCode, loc)
	}
	page, err := http.Get(e.srv.URL + loc)
	if err != nil {
		t.Fatal(err)
	}
	defer page.Body.Close()
	b, _ := io.ReadAll(page.Body)
	if page.StatusCode != 200 || !strings.Contains(string(b), "暴露垃圾") || page.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("tracking page %d:\n%s", page.StatusCode, b)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, limit.NewLocal(limit.PerMinute(60, 1)))
	var last *http.Response
	for i := range 3 {
		last, _ = e.postJSON(t, "", fmt.Sprintf(`{"text":"井盖 %d"}`, i))
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Errorf("third report in a burst of 1: status %d, Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
	}
	if e.tickets(t) != 2 {
		t.Errorf("tickets = %d, want 2", e.tickets(t))
	}
}

func TestHTTPEdges(t *testing.T) {
	e := newEnv(t, nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// The lookup form escapes what it forwards and refuses malformed numbers.
	number := ticketing.FormatNumber(10, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	resp, err := client.Get(e.srv.URL + "/track?number=" + number + "&token=" + url.QueryEscape("a&new=1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "/t/"+number+"?token=a%26new%3D1" {
		t.Errorf("lookup redirect = %q", loc)
	}
	resp, err = client.Get(e.srv.URL + "/track?number=" + url.QueryEscape("123\r\nX: y") + "&token=a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" {
		t.Errorf("malformed number: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ := http.NewRequest("DELETE", e.srv.URL+"/api/v1/reports", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /api/v1/reports: %d, want 405", resp.StatusCode)
	}
	// A browser on another site cannot post reports.
	req, _ = http.NewRequest("POST", e.srv.URL+"/api/v1/reports", strings.NewReader(`{"text":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), `"code":"forbidden"`) {
		t.Errorf("cross-site POST: %d %s", resp.StatusCode, b)
	}
	if e.tickets(t) != 0 {
		t.Error("a refused request stored a ticket")
	}
}

func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":          "203.0.113.9",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"::ffff:203.0.113.9":   "::ffff:203.0.113.9",
		"not an address":       "not an address",
	} {
		if got := webform.SourceKey(in); got != want {
			t.Errorf("SourceKey(%q) = %q, want %q", in, got, want)
		}
	}
}
