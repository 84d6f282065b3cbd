package webform_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/yihao-city/yihao/channels/webform"
	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/limit"
)

// seriesCount is how many series reg holds.
func seriesCount(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	return n
}

// An attacker sending invented HTTP methods (gin hands them to the
// handlers) cannot add a single series to /metrics.
func TestInventedMethodsAddNoSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, nil, httpapi.NewMetrics(reg), nil)
	paths := []string{"/", "/api/v1/reports", "/t/20261125000010", "/no/such/page", "/api/v1/nothing"}
	send := func(method, path string) {
		req, err := http.NewRequest(method, e.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// One invented method per path first: the "other" series exist now.
	for _, p := range paths {
		send("WARMUP", p)
	}
	before := seriesCount(t, reg)
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_!"
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				b := make([]byte, 4+rand.IntN(20))
				for j := range b {
					b[j] = letters[rand.IntN(len(letters))]
				}
				send(fmt.Sprintf("%s%d", b, i), paths[i%len(paths)])
			}
		})
	}
	for i := range 10_000 {
		work <- i
	}
	close(work)
	wg.Wait()
	if after := seriesCount(t, reg); after != before {
		t.Fatalf("10,000 invented methods took /metrics from %d to %d series", before, after)
	}
	// The legitimate path is still measured by its own method and route.
	e.postJSON(t, "", `{"text":"路灯不亮"}`)
	mfs, _ := reg.Gather()
	var found bool
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["method"] == "POST" && labels["route"] == "/api/v1/reports" && labels["code"] == "201" {
				found = true
			}
			if strings.HasPrefix(labels["method"], "WARMUP") {
				t.Errorf("an invented method is a label value: %v", labels)
			}
		}
	}
	if !found {
		t.Error("the report's POST is not measured")
	}
}

// recordingLimiter remembers the keys it was asked about.
type recordingLimiter struct {
	mu   sync.Mutex
	keys []string
}

func (l *recordingLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, key)
	return true, 0, nil
}

func (l *recordingLimiter) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keys[len(l.keys)-1]
}

func postFrom(t *testing.T, e *env, xff string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/reports", strings.NewReader(`{"text":"井盖缺失"}`))
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// The intake limit keys on the peer when the peer is no trusted proxy
// (X-Forwarded-For is anyone's to write), and on the client a trusted
// proxy names, never on a client's own claim to the left of it.
func TestRateLimitKeysOnTheClientAddress(t *testing.T) {
	untrusted := []string{"192.0.2.1"}
	trusted := []string{"127.0.0.0/8", "::1"}
	for _, tc := range []struct {
		name    string
		proxies []string
		xff     string
		want    string
	}{
		{"untrusted peer's header ignored", untrusted, "203.0.113.7", "web:127.0.0.1"},
		{"trusted proxy's client", trusted, "203.0.113.7", "web:203.0.113.7"},
		{"spoofed left-most entry ignored", trusted, "198.51.100.9, 203.0.113.7", "web:203.0.113.7"},
		{"garbage stops at the proxy", trusted, "not-an-address", "web:127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingLimiter{}
			e := newEnvWith(t, rec, nil, tc.proxies)
			if resp := postFrom(t, e, tc.xff); resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := rec.last(); got != tc.want {
				t.Errorf("limiter key %q, want %q", got, tc.want)
			}
		})
	}
	// Behind a trusted proxy one citizen's burst does not stop another's.
	e := newEnvWith(t, limit.NewLocal(limit.PerMinute(60, 1)), nil, trusted)
	for range 3 {
		postFrom(t, e, "203.0.113.7")
	}
	if resp := postFrom(t, e, "203.0.113.7"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the flooding client: %d, want 429", resp.StatusCode)
	}
	if resp := postFrom(t, e, "203.0.113.8"); resp.StatusCode != http.StatusCreated {
		t.Errorf("another client behind the same proxy: %d, want 201", resp.StatusCode)
	}
}

// A wrong method on one of this door's paths is 405; on another door's
// path on the same engine it is the not-found answer, as it was when the
// other doors had a mux of their own in front of this one. A slash too
// many is sent on for this door's paths only.
func TestWrongMethodByDoor(t *testing.T) {
	web, err := webform.New(webform.Config{City: "测试市"}, nil, nil, nil, nil, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := httpapi.New(httpapi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	web.Register(e)
	e.Fallback("/", web.NotFound()...)
	other := func(c *gin.Context) { c.Status(http.StatusNoContent) }
	e.GET("/desk/x", other)
	e.POST("/api/v1/desk/y", other)
	for _, tc := range []struct {
		method, path string
		code         int
		allow, to    string
	}{
		{"GET", "/report", http.StatusMethodNotAllowed, "POST", ""},
		{"DELETE", "/api/v1/reports", http.StatusMethodNotAllowed, "POST", ""},
		{"POST", "/desk/x", http.StatusNotFound, "", ""},
		{"GET", "/api/v1/desk/y", http.StatusNotFound, "", ""},
		{"GET", "/desk/x/", http.StatusNotFound, "", ""},
		// A slash too many on this door's path is sent on, as gin did.
		{"GET", "/track/?n=1", http.StatusMovedPermanently, "", "/track?n=1"},
		{"GET", "/t/20261125000010/", http.StatusMovedPermanently, "", "/t/20261125000010"},
		{"POST", "/api/v1/reports/", http.StatusTemporaryRedirect, "", "/api/v1/reports"},
	} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.code || w.Header().Get("Allow") != tc.allow || w.Header().Get("Location") != tc.to {
			t.Errorf("%s %s: %d Allow %q to %q, want %d %q %q", tc.method, tc.path, w.Code, w.Header().Get("Allow"), w.Header().Get("Location"), tc.code, tc.allow, tc.to)
		}
	}
}
