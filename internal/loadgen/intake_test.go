package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeIntake is a minimal in-memory server for the two endpoints the load
// client talks to. It tests the client, not the real server.
type fakeIntake struct {
	mu      sync.Mutex
	next    int
	byKey   map[string]*fakeTicket
	byNum   map[string]*fakeTicket
	lose    string // a number GET pretends not to know
	flaky   int    // every flaky-th new ticket is stored but answered with 503
	created int
}

type fakeTicket struct {
	number, token string
	body          []byte
}

func newFakeIntake() *fakeIntake {
	return &fakeIntake{byKey: map[string]*fakeTicket{}, byNum: map[string]*fakeTicket{}}
}

func (f *fakeIntake) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/reports", f.post)
	mux.HandleFunc("GET /api/v1/tickets/{number}", f.get)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": code}})
}

func (f *fakeIntake) post(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	body, _ := io.ReadAll(r.Body)
	var in struct {
		Text string `json:"text"`
	}
	if key == "" || json.Unmarshal(body, &in) != nil || in.Text == "" {
		writeErr(w, http.StatusBadRequest, "invalid")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	status := http.StatusOK
	t, ok := f.byKey[key]
	switch {
	case ok && !bytes.Equal(t.body, body):
		writeErr(w, http.StatusConflict, "idempotency_key_reused")
		return
	case !ok:
		f.next++
		t = &fakeTicket{number: fmt.Sprintf("26010%09d", f.next), token: fmt.Sprintf("tok%d", f.next), body: body}
		f.byKey[key], f.byNum[t.number] = t, t
		status = http.StatusCreated
		f.created++
		if f.flaky > 0 && f.created%f.flaky == 0 {
			// Stored, but the answer is lost: the client must retry and get 200.
			w.Header().Set("Retry-After", "0")
			writeErr(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
	}
	writeJSON(w, status, map[string]string{
		"number": t.number, "status": "received", "category": "", "department": "", "track_token": t.token,
	})
}

func (f *fakeIntake) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.byNum[r.PathValue("number")]
	if !ok || t.number == f.lose || r.URL.Query().Get("token") != t.token {
		writeErr(w, http.StatusNotFound, "not_found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"number": t.number, "status": "received"})
}

func runFake(t *testing.T, f *fakeIntake) (string, error) {
	t.Helper()
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	err := Run(context.Background(), []string{"intake", "--url", srv.URL, "--n", "200", "--c", "8", "--replay", "0.1"}, &out)
	t.Log("\n" + out.String())
	return out.String(), err
}

func TestBenchIntakeAllGood(t *testing.T) {
	out, err := runFake(t, newFakeIntake())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, want := range []string{"acknowledged  200", "verified: 200 stored, 0 lost, 0 doubled", "20 of 20 replayed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// A ticket stored but answered with 503 must be retried with the same key
// and count as acknowledged once the replay answers 200.
func TestBenchIntakeRetriesLostAnswers(t *testing.T) {
	f := newFakeIntake()
	f.flaky = 10
	out, err := runFake(t, f)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if f.created != 200 {
		t.Errorf("server created %d tickets, want 200", f.created)
	}
	for _, want := range []string{"acknowledged  200", "retries       20", "0 lost, 0 doubled"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestBenchIntakeLostTicket(t *testing.T) {
	f := newFakeIntake()
	f.lose = fmt.Sprintf("26010%09d", 17)
	out, err := runFake(t, f)
	if err == nil || !strings.Contains(err.Error(), "1 lost") {
		t.Fatalf("Run error = %v, want one mentioning 1 lost", err)
	}
	if !strings.Contains(out, "199 stored, 1 lost") {
		t.Errorf("output lacks the lost count")
	}
}

func TestBenchUnknownTarget(t *testing.T) {
	err := Run(context.Background(), []string{"outbox"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "intake") {
		t.Fatalf("Run(outbox) = %v, want an error naming intake", err)
	}
}
