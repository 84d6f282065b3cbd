package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yihao-city/yihao/configs"
	"github.com/yihao-city/yihao/routing/forward"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
)

func postReport(t *testing.T, base, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/reports", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST report: %d %v", resp.StatusCode, out)
	}
	return out
}

func get(t *testing.T, url, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
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

func TestServeHealthAndMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := e2eStart(ctx, t, map[string]string{"YIHAO_DATA_DIR": t.TempDir()})
	postReport(t, srv.base, `{"text":"路灯不亮"}`)
	for _, tc := range []struct{ path, want string }{
		{"/healthz", "ok"},
		{"/readyz", "ready"},
		{"/metrics", `yihao_reports_total{channel="web",result="created"} 1`},
		{"/metrics", `yihao_http_request_duration_seconds_count{code="201",method="POST",route="/api/v1/reports"} 1`},
		{"/metrics", "go_goroutines"},
	} {
		bearer := ""
		if tc.path == "/metrics" {
			bearer = testMetricsToken
		}
		status, body := get(t, srv.base+tc.path, bearer)
		if status != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d, body lacks %q", tc.path, status, tc.want)
		}
	}
}

// /metrics on the public listener answers only to the metrics token; the
// debug listener serves it, and the profiles, to anyone who can reach it
// (an internal address). Without a token the public listener has none.
func TestMetricsNeedTokenOrDebugListener(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	debugAddr := ln.Addr().String()
	ln.Close()
	srv := e2eStart(ctx, t, map[string]string{"YIHAO_DATA_DIR": t.TempDir(), "YIHAO_DEBUG_ADDR": debugAddr})
	for _, bearer := range []string{"", "wrong-token-of-some-length", testMetricsToken + "x"} {
		if status, body := get(t, srv.base+"/metrics", bearer); status != http.StatusUnauthorized || strings.Contains(body, "go_goroutines") {
			t.Errorf("/metrics with bearer %q: %d", bearer, status)
		}
	}
	if status, body := get(t, srv.base+"/metrics", testMetricsToken); status != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics with the token: %d", status)
	}
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		if status, _ := get(t, "http://"+debugAddr+p, ""); status != 200 {
			t.Errorf("debug listener %s: %d", p, status)
		}
	}
	if status, _ := get(t, srv.base+"/debug/pprof/", ""); status == 200 {
		t.Error("pprof is on the public listener")
	}
	open := e2eStart(ctx, t, map[string]string{"YIHAO_DATA_DIR": t.TempDir(), "YIHAO_METRICS_TOKEN": ""})
	if status, body := get(t, open.base+"/metrics", ""); status == 200 || strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics without a metrics token configured: %d", status)
	}
}

// A request in flight when SIGTERM arrives is finished, not cut off.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := e2eStart(ctx, t, map[string]string{"YIHAO_DATA_DIR": t.TempDir()})
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(srv.base+"/api/v1/reports", mw.FormDataContentType(), pr)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	mw.WriteField("text", "井盖缺失，关机前提交")
	time.Sleep(300 * time.Millisecond) // let the server start reading the request
	stopped := make(chan error, 1)
	go func() { stopped <- srv.stop() }()
	time.Sleep(300 * time.Millisecond) // shutdown has begun and is waiting for us
	select {
	case err := <-stopped:
		t.Fatalf("the server stopped (%v) with a request still in flight", err)
	default:
	}
	mw.WriteField("address", "长安街")
	mw.Close()
	pw.Close()
	r := <-done
	if r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("in-flight request: status %d, err %v; want 201", r.status, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestMigrateAndTokenCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	env := map[string]string{"YIHAO_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"migrate"}, getenv, &out, &errOut); err != nil || !strings.Contains(out.String(), "migrations applied") {
		t.Fatalf("migrate: %v %q %q", err, out.String(), errOut.String())
	}
	out.Reset()
	if err := run(ctx, []string{"token", "create", "--role", "admin", "--name", "ops"}, getenv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out.String())
	if !strings.HasPrefix(token, "yh_") || len(token) < 40 {
		t.Fatalf("token = %q", token)
	}
	if err := run(ctx, []string{"token", "create", "--role", "boss"}, getenv, &out, &errOut); err == nil || !strings.Contains(err.Error(), "role") {
		t.Errorf("unknown role: err = %v", err)
	}
	srv := e2eStart(ctx, t, env)
	created := postReport(t, srv.base, `{"text":"井盖缺失","contact":{"phone":"13912345678"}}`)
	url := srv.base + "/api/v1/tickets/" + created["number"].(string)
	if status, body := get(t, url, token); status != 200 || !strings.Contains(body, "13912345678") || !strings.Contains(body, `"actor":"router"`) {
		t.Errorf("staff view with the new token: %d %s", status, body)
	}
	if status, _ := get(t, url, token+"x"); status != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d, want 401", status)
	}
}

func testRedisURL() string {
	if u := os.Getenv("YIHAO_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Two instances on one PostgreSQL and one Redis: a report taken by one is
// served by the other, and the intake rate limit is shared, not doubled.
func TestTwoInstancesShareStoreAndLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := map[string]string{
		"YIHAO_DATABASE_URL": pgtest.SchemaURL(t),
		"YIHAO_REDIS_URL":    testRedisURL(),
		"YIHAO_REDIS_PREFIX": "yihao-test:" + rand.Text() + ":",
		"YIHAO_RATE_LIMIT":   "60",
		"YIHAO_RATE_BURST":   "2",
	}
	a := e2eStart(ctx, t, mergeEnv(env, "YIHAO_DATA_DIR", t.TempDir()))
	b := e2eStart(ctx, t, mergeEnv(env, "YIHAO_DATA_DIR", t.TempDir()))
	if status, body := get(t, a.base+"/readyz", ""); status != 200 || !strings.Contains(body, "ready") {
		t.Fatalf("readyz with Redis: %d %s", status, body)
	}
	created := postReport(t, a.base, `{"text":"暖气不热"}`)
	number, token := created["number"].(string), created["track_token"].(string)
	if status, body := get(t, b.base+"/api/v1/tickets/"+number+"?token="+token, ""); status != 200 || !strings.Contains(body, number) {
		t.Errorf("the other instance cannot see the ticket: %d %s", status, body)
	}
	postReport(t, b.base, `{"text":"暖气不热 2"}`)
	postReport(t, a.base, `{"text":"暖气不热 3"}`)
	// The burst (2) plus one is used up across both instances.
	resp, err := http.Post(b.base+"/api/v1/reports", "application/json", strings.NewReader(`{"text":"暖气不热 4"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("fourth report across two instances: %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func mergeEnv(env map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for key, val := range env {
		out[key] = val
	}
	return out
}

// A dispatched report reaches a configured webhook, signed, and the ticket
// records the delivery.
func TestServeForwardsToWebhook(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := make(chan forward.WebhookMessage, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := forward.VerifySignature("s3cret", r.Header, body, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m forward.WebhookMessage
		json.Unmarshal(body, &m)
		got <- m
	}))
	defer hook.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "yihao.yaml")
	os.WriteFile(cfgPath, []byte("forwarding:\n  - {name: grid-platform, label: 区数字城管平台, kind: webhook, url: "+hook.URL+", secret: s3cret, backoff_base: 10ms}\n"), 0o600)
	srv := e2eStart(ctx, t, map[string]string{"YIHAO_DATA_DIR": dir, "YIHAO_CONFIG": cfgPath})
	created := postReport(t, srv.base, `{"text":"小区门口井盖缺失","address":"东华门街道"}`)
	number := created["number"].(string)
	select {
	case m := <-got:
		if m.Topic != "ticket.created" || !strings.Contains(string(m.Payload), number) {
			t.Errorf("webhook got %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("the webhook never received the ticket")
	}
	// The delivery is noted on the ticket, publicly since the endpoint has a label.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, srv.base+"/api/v1/tickets/"+number+"?token="+created["track_token"].(string), "")
		if strings.Contains(body, `"type":"forwarded"`) && strings.Contains(body, "区数字城管平台") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no forwarded event on the ticket: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Editing the catalogue file changes routing without a restart; a broken
// edit is refused and the routing in force stays.
func TestServeReloadsCatalogue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	catPath := filepath.Join(dir, "city.yaml")
	os.WriteFile(catPath, configs.DemoCatalogue, 0o600)
	cfgPath := filepath.Join(dir, "yihao.yaml")
	os.WriteFile(cfgPath, []byte("reload_interval: 50ms\n"), 0o600)
	srv := e2eStart(ctx, t, map[string]string{"YIHAO_DATA_DIR": dir, "YIHAO_CONFIG": cfgPath, "YIHAO_CATALOGUE": catPath, "YIHAO_RATE_LIMIT": "0"})
	dept := func() string {
		return postReport(t, srv.base, `{"text":"楼下路灯不亮","category":"0210"}`)["department"].(string)
	}
	if d := dept(); d != "cgw" {
		t.Fatalf("before the edit: %s", d)
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for dept() != want {
			if time.Now().After(deadline) {
				t.Fatalf("routing did not become %s", want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	edited := strings.Replace(string(configs.DemoCatalogue), "\ncategories:\n",
		"\ncategories:\n  - {code: pets, name: 宠物扰民, department: jdb, keywords: [狗叫]}\n", 1) +
		"\n  - {id: lamps-to-street, lead: jdb, when: {categories: [\"0210\"]}}\n"
	os.WriteFile(catPath, []byte(edited), 0o600)
	waitFor("jdb")
	// The form offers the category the reload added.
	if _, page := get(t, srv.base+"/", ""); !strings.Contains(page, "宠物扰民") {
		t.Error("the form does not offer the category added by the reload")
	}
	os.WriteFile(catPath, []byte(edited+"\n  - {id: broken, lead: nobody}\n"), 0o600)
	time.Sleep(300 * time.Millisecond) // several reload intervals
	if d := dept(); d != "jdb" {
		t.Errorf("after a broken edit: %s, want the routing in force (jdb)", d)
	}
	if !strings.Contains(srv.stderr.String(), `unknown lead department \"nobody\"`) && !strings.Contains(srv.stderr.String(), `unknown lead department "nobody"`) {
		t.Errorf("the refused reload was not logged with its reason:\n%s", srv.stderr)
	}
}

// A platform that refuses a message puts it in the dead letters, which the
// metrics show and `yihao forward dead|requeue` lists and sends again.
func TestServeDeadLetters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var refuse atomic.Bool
	refuse.Store(true)
	got := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() {
			http.Error(w, "unknown department", http.StatusBadRequest)
			return
		}
		got <- r.Header.Get(forward.HeaderDelivery)
	}))
	defer hook.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "yihao.yaml")
	os.WriteFile(cfgPath, []byte("forwarding:\n  - {name: picky, kind: webhook, url: "+hook.URL+", secret: s}\n"), 0o600)
	env := map[string]string{"YIHAO_DATA_DIR": dir, "YIHAO_CONFIG": cfgPath}
	srv := e2eStart(ctx, t, env)
	postReport(t, srv.base, `{"text":"小区门口井盖缺失"}`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := get(t, srv.base+"/metrics", testMetricsToken)
		if strings.Contains(body, `yihao_deliveries_dead{endpoint="picky"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter in the metrics:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"forward", "dead", "--endpoint", "picky"}, getenv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "ticket.created") || !strings.Contains(lines[1], "400") {
		t.Fatalf("dead letters:\n%s", out.String())
	}
	id := strings.Fields(lines[1])[0]
	refuse.Store(false)
	out.Reset()
	if err := run(ctx, []string{"forward", "requeue", "--id", id}, getenv, &out, &errOut); err != nil || !strings.Contains(out.String(), "requeued") {
		t.Fatalf("requeue: %v %s", err, out.String())
	}
	select {
	case d := <-got:
		if d != id {
			t.Errorf("delivered %s, want the requeued %s", d, id)
		}
	case <-ctx.Done():
		t.Fatal("the requeued delivery never arrived")
	}
	out.Reset()
	if err := run(ctx, []string{"forward", "status"}, getenv, &out, &errOut); err != nil || !strings.Contains(out.String(), "picky") {
		t.Errorf("status: %v %s", err, out.String())
	}
}
