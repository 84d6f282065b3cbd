package httpapi_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/ticketing"
)

func serve(h http.Handler, method, path string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// Handle takes net/http's patterns: wildcards read with PathValue, the
// rest of a path, a subtree, an exact slash, HEAD with GET, and every
// method for a pattern without one.
func TestHandlePatterns(t *testing.T) {
	e, err := httpapi.New(httpapi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	echo := func(names ...string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			out := []string{r.Pattern, httpapi.Route(r)}
			for _, n := range names {
				out = append(out, n+"="+r.PathValue(n))
			}
			_, _ = io.WriteString(w, strings.Join(out, " "))
		})
	}
	httpapi.Handle(e, "GET /t/{number}", echo("number"))
	httpapi.Handle(e, "POST /t/{number}/{action}", echo("number", "action"))
	httpapi.Handle(e, "POST /t/{number}/reveal", echo("number"))
	httpapi.Handle(e, "GET /t/{number}/photos/{id...}", echo("number", "id"))
	httpapi.Handle(e, "GET /files/", echo())
	httpapi.Handle(e, "GET /desk/{$}", echo())
	httpapi.Handle(e, "/push", echo())
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/t/42", "GET /t/{number} /t/{number} number=42"},
		{"HEAD", "/t/42", "GET /t/{number} /t/{number} number=42"},
		{"POST", "/t/42/accept", "POST /t/{number}/{action} /t/{number}/{action} number=42 action=accept"},
		{"POST", "/t/42/reveal", "POST /t/{number}/reveal /t/{number}/reveal number=42"},
		{"GET", "/t/42/photos/a/b.jpg", "GET /t/{number}/photos/{id...} /t/{number}/photos/{id...} number=42 id=a/b.jpg"},
		{"GET", "/files/x/y", "GET /files/ /files/"},
		{"GET", "/desk/", "GET /desk/{$} /desk/{$}"},
		{"DELETE", "/push", "/push /push"},
	} {
		w := serve(e, tc.method, tc.path)
		if w.Code != http.StatusOK || w.Body.String() != tc.want {
			t.Errorf("%s %s: %d %q, want %q", tc.method, tc.path, w.Code, w.Body, tc.want)
		}
	}
	// Exactly the path: no redirect to or from a trailing slash.
	for _, p := range []string{"/t/42/", "/desk", "/files"} {
		if w := serve(e, "GET", p); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, w.Code)
		}
	}
}

// What no route serves goes to the longest fallback that covers it: with
// 405 set (and Allow) for a known path asked with another method.
func TestFallbacks(t *testing.T) {
	e, err := httpapi.New(httpapi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.GET("/api/x", func(c *gin.Context) { c.String(http.StatusOK, "x") })
	e.GET("/open/y", func(c *gin.Context) { c.String(http.StatusOK, "y") })
	answer := func(name string) gin.HandlerFunc {
		return func(c *gin.Context) {
			c.String(c.Writer.Status(), "%s %v", name, httpapi.MethodNotAllowed(c))
		}
	}
	e.Fallback("/", answer("root"))
	e.Fallback("/open/", answer("open"))
	e.Fallback("/exact", answer("exact"))
	for _, tc := range []struct {
		method, path string
		code         int
		body, allow  string
	}{
		{"GET", "/nothing", 404, "root false", ""},
		{"POST", "/api/x", 405, "root true", "GET"},
		{"INVENTED", "/api/x", 405, "root true", "GET"},
		{"GET", "/open/z", 404, "open false", ""},
		{"POST", "/open/y", 405, "open true", "GET"},
		{"GET", "/exact", 404, "exact false", ""},
		{"GET", "/exact/more", 404, "root false", ""},
	} {
		w := serve(e, tc.method, tc.path)
		if w.Code != tc.code || w.Body.String() != tc.body || w.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d %q Allow %q, want %d %q %q", tc.method, tc.path, w.Code, w.Body, w.Header().Get("Allow"), tc.code, tc.body, tc.allow)
		}
	}
}

// Every request is measured by its pattern, never its URL, and named by
// an id; a panic is a 500 in the door's shape, measured too.
func TestMiddleware(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, err := httpapi.New(httpapi.Config{Metrics: httpapi.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	httpapi.Handle(e, "GET /secret/{token}", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	e.GET("/boom", func(*gin.Context) { panic("boom") })
	g := e.Group("", httpapi.OnError(func(w http.ResponseWriter, _ *http.Request, err error) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "door's own: "+err.Error())
	}))
	g.GET("/door-boom", func(*gin.Context) { panic("boom") })

	w := serve(e, "GET", "/secret/s3cr3t")
	if id := w.Header().Get("X-Request-Id"); len(id) != 16 {
		t.Errorf("request id %q", id)
	}
	if serve(e, "GET", "/secret/other").Header().Get("X-Request-Id") == w.Header().Get("X-Request-Id") {
		t.Error("two requests, one id")
	}
	w = serve(e, "GET", "/boom")
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"code":"internal"`) || strings.Contains(w.Body.String(), "boom") {
		t.Errorf("panic: %d %s", w.Code, w.Body)
	}
	if w := serve(e, "GET", "/door-boom"); w.Code != http.StatusTeapot || w.Body.String() != "door's own: panic" {
		t.Errorf("panic in a door with its own errors: %d %s", w.Code, w.Body)
	}
	serve(e, "GET", "/no/such/page")
	mfs, _ := reg.Gather()
	series := 0
	for _, mf := range mfs {
		series += len(mf.GetMetric())
	}
	if series != 4 { // /secret/{token}, /boom, /door-boom, unmatched
		t.Errorf("%d series, want 4", series)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "s3cr3t") {
					t.Errorf("the URL is a label: %s", l.GetValue())
				}
			}
		}
	}
	for _, route := range []string{"/secret/{token}", "/boom", "/door-boom", "unmatched"} {
		found := false
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == "route" && l.GetValue() == route
				}
			}
		}
		if !found {
			t.Errorf("no series for route %q", route)
		}
	}
}

// Streams flush through the engine's writer, and a handler can still set
// its own write deadline (http.ResponseController unwraps gin's writer).
func TestStreaming(t *testing.T) {
	e, err := httpapi.New(httpapi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	httpapi.Handle(e, "GET /events", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "event: a\n\n")
		if err := rc.Flush(); err != nil {
			t.Error(err)
		}
		<-r.Context().Done()
	}))
	srv := httptest.NewServer(e)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := make([]byte, len("event: a\n\n"))
	if _, err := io.ReadFull(resp.Body, b); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %q %v", resp.StatusCode, b, err)
	}
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"/", "/", true},
		{"/", "/desk", false},
		{"/t/:number", "/t/42", true},
		{"/t/:number", "/t/", false},
		{"/t/:number", "/t/42/rate", false},
		{"/t/:number/rate", "/t/42/rate", true},
		{"/static/*filepath", "/static/a/b.css", true},
		{"/api/v1/reports", "/api/v1/desk/queue", false},
		{"/track", "/track/", false},
	} {
		if got := httpapi.Matches(tc.pattern, tc.path); got != tc.want {
			t.Errorf("Matches(%q, %q) = %v", tc.pattern, tc.path, got)
		}
	}
}

// A cross-origin request stops at the group's protection.
func TestCrossOrigin(t *testing.T) {
	e, err := httpapi.New(httpapi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	g := e.Group("", httpapi.CrossOrigin(http.NewCrossOriginProtection()))
	g.POST("/form", func(c *gin.Context) { ran = true; c.Status(http.StatusNoContent) })
	if w := serve(e, "POST", "/form", "Sec-Fetch-Site", "cross-site"); w.Code != http.StatusForbidden || ran {
		t.Errorf("cross-site: %d, handler ran %v", w.Code, ran)
	}
	if w := serve(e, "POST", "/form", "Sec-Fetch-Site", "same-origin"); w.Code != http.StatusNoContent || !ran {
		t.Errorf("same-origin: %d, handler ran %v", w.Code, ran)
	}
}

// One table from error kinds to statuses and the JSON problem.
func TestFail(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   int
		body   string
		header string
	}{
		{ticketing.Invalid("text", "is empty"), 400, `{"error":{"code":"invalid","message":"is empty","field":"text"}}`, ""},
		{&ticketing.TransitionError{Action: "accept", From: ticketing.StatusClosed}, 409, `{"error":{"code":"illegal_transition","message":"cannot accept a ticket that is closed","field":"status"}}`, ""},
		{&ticketing.Error{Kind: ticketing.KindUnauthorized, Message: "sign in"}, 401, `{"error":{"code":"unauthorized","message":"sign in"}}`, `Bearer realm="yihao"`},
		{ticketing.Unavailable(errors.New("db down")), 503, `{"error":{"code":"unavailable","message":"service temporarily unavailable, retry later"}}`, ""},
		{&http.MaxBytesError{Limit: 10}, 413, `{"error":{"code":"too_large","message":"request body is over 10 bytes"}}`, ""},
		{errors.New("secret detail"), 500, `{"error":{"code":"internal","message":"internal error"}}`, ""},
	} {
		w := httptest.NewRecorder()
		httpapi.Fail(w, httptest.NewRequest("GET", "/", nil), discard, tc.err)
		if w.Code != tc.code || strings.TrimSpace(w.Body.String()) != tc.body || w.Header().Get("WWW-Authenticate") != tc.header {
			t.Errorf("%v: %d %s %q", tc.err, w.Code, w.Body, w.Header().Get("WWW-Authenticate"))
		}
		if tc.code == 503 && w.Header().Get("Retry-After") != httpapi.RetryAfter {
			t.Errorf("503 without Retry-After")
		}
	}
}

var discard = slog.New(slog.DiscardHandler)
