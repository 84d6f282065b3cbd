package forward

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

func TestSignKnownVector(t *testing.T) {
	// printf '%s' '1764000000.{"id":1}' | openssl dgst -sha256 -hmac topsecret
	const want = "sha256=de866b5ba097301308376194bdcaf3cc057ec09940f0e0b4e57e097a623035ca"
	if got := Sign("topsecret", "1764000000", []byte(`{"id":1}`)); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	now := time.Unix(1764000000, 0)
	body := []byte(`{"id":1}`)
	header := func(ts, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		return h
	}
	good := Sign("topsecret", "1764000000", body)
	tests := []struct {
		name   string
		secret string
		h      http.Header
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", "topsecret", header("1764000000", good), body, now, nil},
		{"valid within tolerance", "topsecret", header("1764000000", good), body, now.Add(4 * time.Minute), nil},
		{"wrong secret", "other", header("1764000000", good), body, now, ErrBadSignature},
		{"tampered body", "topsecret", header("1764000000", good), []byte(`{"id":2}`), now, ErrBadSignature},
		{"tampered timestamp", "topsecret", header("1764000001", good), body, now, ErrBadSignature},
		{"missing timestamp", "topsecret", header("", good), body, now, ErrBadSignature},
		{"missing signature", "topsecret", header("1764000000", ""), body, now, ErrBadSignature},
		{"replayed later", "topsecret", header("1764000000", good), body, now.Add(6 * time.Minute), ErrStale},
		{"from the future", "topsecret", header("1764000000", good), body, now.Add(-6 * time.Minute), ErrStale},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.secret, tc.h, tc.body, tc.now, 5*time.Minute)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("VerifySignature = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	base, maxWait := time.Second, 5*time.Minute
	for attempt := 1; attempt <= 100; attempt++ {
		want := maxWait
		if attempt <= 9 {
			want = base << (attempt - 1)
		}
		for range 50 {
			d := backoff(base, maxWait, attempt)
			if d < want/2 || d > want {
				t.Fatalf("backoff(attempt %d) = %s, want within [%s, %s]", attempt, d, want/2, want)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"1.5", 0},
		{"99999999", time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	} {
		h := http.Header{}
		h.Set("Retry-After", tc.v)
		if got := retryAfter(h, now); got != tc.want {
			t.Errorf("Retry-After %q = %s, want %s", tc.v, got, tc.want)
		}
	}
}

func TestEndpointConfig(t *testing.T) {
	ok := Endpoint{Name: "grid", Kind: KindWebhook, URL: "https://grid.example.cn/hooks", Secret: "s"}
	e, err := ok.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if e.Timeout != 10*time.Second || e.BackoffBase != time.Second || e.BackoffMax != 5*time.Minute ||
		e.MaxAttempts != 0 || e.MaxAge != 72*time.Hour || e.Lease != 50*time.Second || e.BatchSize != 8 {
		t.Errorf("defaults %+v", e)
	}
	o, err := Endpoint{Name: "o", Kind: KindOpen311, URL: "https://x.example.cn/open311/v2"}.withDefaults()
	if err != nil || o.ExternalIDAttribute != "yihao_ticket" || len(o.Topics) != 2 || o.PollInterval != 5*time.Minute {
		t.Errorf("open311 defaults %+v, %v", o, err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Endpoint)
		want string
	}{
		{"no name", func(e *Endpoint) { e.Name = "" }, "name"},
		{"bad kind", func(e *Endpoint) { e.Kind = "email" }, "kind"},
		{"relative url", func(e *Endpoint) { e.URL = "/hooks" }, "url"},
		{"ftp url", func(e *Endpoint) { e.URL = "ftp://x/y" }, "url"},
		{"unsigned webhook", func(e *Endpoint) { e.Secret = "" }, "secret"},
		{"negative timeout", func(e *Endpoint) { e.Timeout = -time.Second }, "timeout"},
		{"max below base", func(e *Endpoint) { e.BackoffBase, e.BackoffMax = time.Minute, time.Second }, "backoff_max"},
		{"lease too short", func(e *Endpoint) { e.Timeout, e.Lease = time.Minute, time.Second }, "lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ok
			tc.edit(&e)
			_, err := e.withDefaults()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"`+e.Name+`"`) {
				t.Errorf("error %v, want one naming the endpoint and %s", err, tc.want)
			}
		})
	}
	store := &fakeStore{}
	if _, err := New(store, nil, fakeNotes{}, []Endpoint{ok, ok}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate names: %v", err)
	}
	if _, err := New(store, nil, fakeNotes{}, []Endpoint{{Name: "o", Kind: KindOpen311, URL: "https://x.example.cn/v2"}}); err == nil {
		t.Error("Open311 without a ticket source was accepted")
	}
}

// fakeStore records what the forwarder decides about one attempt. The
// behaviour of the real stores is covered by storetest.Run's delivery cases.
type fakeStore struct {
	ticketing.DeliveryStore
	mu        sync.Mutex
	delivered []int64
	failed    []failure
	released  []int64
}

type failure struct {
	id     int64
	nextAt time.Time
	text   string
	dead   bool
}

func (f *fakeStore) ExternalRef(context.Context, string, int64) (*ticketing.ExternalRef, error) {
	return &ticketing.ExternalRef{ForwardedAt: time.Unix(1, 0)}, nil
}

func (f *fakeStore) MarkDelivered(_ context.Context, id int64, _ time.Time, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delivered = append(f.delivered, id)
	return nil
}

func (f *fakeStore) MarkFailed(_ context.Context, id int64, _ int, nextAt time.Time, text string, dead bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = append(f.failed, failure{id, nextAt, text, dead})
	return nil
}

func (f *fakeStore) Release(_ context.Context, id int64, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, id)
	return nil
}

type fakeNotes struct{}

func (fakeNotes) Note(context.Context, string, string, ticketing.EventType, string, string) error {
	return nil
}

// TestWebhookAttempt: how one attempt's answer is judged and scheduled.
func TestWebhookAttempt(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	type answer struct {
		status int
		header map[string]string
		hang   bool
	}
	tests := []struct {
		name     string
		answer   answer
		attempt  int
		age      time.Duration
		wantOK   bool
		wantDead bool
		minWait  time.Duration
		maxWait  time.Duration
	}{
		{name: "200", answer: answer{status: 200}, wantOK: true},
		{name: "204", answer: answer{status: 204}, wantOK: true},
		{name: "400 permanent", answer: answer{status: 400}, wantDead: true},
		{name: "401 permanent", answer: answer{status: 401}, wantDead: true},
		{name: "404 permanent", answer: answer{status: 404}, wantDead: true},
		{name: "redirect is a misconfiguration", answer: answer{status: 302, header: map[string]string{"Location": "/elsewhere"}}, wantDead: true},
		{name: "408 retried", answer: answer{status: 408}, minWait: 500 * time.Millisecond, maxWait: time.Second},
		{name: "429 honours Retry-After", answer: answer{status: 429, header: map[string]string{"Retry-After": "120"}}, minWait: 2 * time.Minute, maxWait: 2 * time.Minute},
		{name: "503 honours an HTTP date", answer: answer{status: 503, header: map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}}, minWait: 90 * time.Second, maxWait: 90 * time.Second},
		{name: "500 backs off", answer: answer{status: 500}, attempt: 4, minWait: 4 * time.Second, maxWait: 8 * time.Second},
		{name: "backoff is capped", answer: answer{status: 502}, attempt: 20, minWait: 30 * time.Second, maxWait: time.Minute},
		{name: "last attempt", answer: answer{status: 503}, attempt: 30, wantDead: true},
		{name: "too old", answer: answer{status: 503}, age: 25 * time.Hour, wantDead: true},
		{name: "timeout retried", answer: answer{hang: true}, minWait: 500 * time.Millisecond, maxWait: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			var (
				mu   sync.Mutex
				got  http.Header
				body []byte
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = r.Header.Clone()
				body, _ = io.ReadAll(r.Body)
				mu.Unlock()
				if tc.answer.hang {
					<-release
					return
				}
				for k, v := range tc.answer.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.answer.status)
			}))
			defer srv.Close()
			defer close(release)
			store := &fakeStore{}
			f, err := New(store, nil, fakeNotes{}, []Endpoint{{Name: "grid", Kind: KindWebhook, URL: srv.URL, Secret: "k",
				BackoffBase: time.Second, BackoffMax: time.Minute, MaxAttempts: 30, MaxAge: 24 * time.Hour,
				Timeout: 200 * time.Millisecond}}, WithClock(func() time.Time { return now }))
			if err != nil {
				t.Fatal(err)
			}
			attempt := max(tc.attempt, 1)
			d := ticketing.Delivery{ID: 42, MessageID: 7, TicketID: 3, Number: "26112500000038", Endpoint: "grid",
				Topic: "ticket.created", Payload: []byte(`{"number":"26112500000038","status":"dispatched"}`),
				MessageAt: now.Add(-tc.age), Attempt: attempt}
			f.endpoints[0].deliver(context.Background(), d)

			mu.Lock()
			defer mu.Unlock()
			if tc.wantOK {
				if len(store.delivered) != 1 || len(store.failed) != 0 {
					t.Fatalf("delivered %v, failed %+v; want delivered", store.delivered, store.failed)
				}
				if got.Get(HeaderDelivery) != "42" || got.Get("Content-Type") != "application/json" ||
					got.Get(HeaderTopic) != "ticket.created" {
					t.Errorf("headers %v", got)
				}
				if err := VerifySignature("k", got, body, now, time.Minute); err != nil {
					t.Errorf("signature: %v", err)
				}
				var m WebhookMessage
				if err := json.Unmarshal(body, &m); err != nil || m.ID != 7 || m.Delivery != 42 || m.Ticket != "26112500000038" ||
					m.Attempt != 1 || !m.CreatedAt.Equal(now) || string(m.Payload) != string(d.Payload) {
					t.Errorf("body %s (%v)", body, err)
				}
				return
			}
			if len(store.failed) != 1 || len(store.delivered) != 0 {
				t.Fatalf("delivered %v, failed %+v; want one failure", store.delivered, store.failed)
			}
			fl := store.failed[0]
			if fl.dead != tc.wantDead || fl.text == "" {
				t.Errorf("failure %+v, want dead=%v", fl, tc.wantDead)
			}
			if wait := fl.nextAt.Sub(now); !tc.wantDead && (wait < tc.minWait || wait > tc.maxWait) {
				t.Errorf("next attempt in %s, want within [%s, %s]", wait, tc.minWait, tc.maxWait)
			}
		})
	}
}

// TestStopReleases: an attempt cut short by a stop is given back uncounted.
func TestStopReleases(t *testing.T) {
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the server notices a closed connection once the body is read
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	}))
	defer srv.Close()
	store := &fakeStore{}
	f, err := New(store, nil, fakeNotes{}, []Endpoint{{Name: "grid", Kind: KindWebhook, URL: srv.URL, Secret: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	f.endpoints[0].deliver(ctx, ticketing.Delivery{ID: 9, Attempt: 1, Topic: "ticket.created", Payload: []byte(`{}`), MessageAt: time.Now()})
	if len(store.released) != 1 || len(store.failed) != 0 || len(store.delivered) != 0 {
		t.Errorf("released %v, failed %+v, delivered %v; want released", store.released, store.failed, store.delivered)
	}
}
