package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A PBX posts a call through the CTI webhook of the running binary and
// the hotline figures count it.
func TestHotlineCTIEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := map[string]string{"YIHAO_DATA_DIR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	token := func(role string) string {
		var out, errOut bytes.Buffer
		if err := run(ctx, []string{"token", "create", "--role", role}, getenv, &out, &errOut); err != nil {
			t.Fatalf("token create --role %s: %v %s", role, err, errOut.String())
		}
		return strings.TrimSpace(out.String())
	}
	cti, admin := token("cti"), token("admin")
	srv := e2eStart(ctx, t, env)
	for _, call := range []struct{ id, end string }{{"e2e-1", "answer"}, {"e2e-2", ""}} {
		events := []url.Values{{"event": {"newCall"}}}
		if call.end == "answer" {
			events = append(events, url.Values{"event": {"answer"}, "user": {"2001"}})
		}
		events = append(events, url.Values{"event": {"hangup"}, "cause": {"cancel"}})
		for _, v := range events {
			v.Set("callId", call.id)
			v.Set("from", "13800138000")
			v.Set("to", "12345")
			v.Set("direction", "in")
			resp, err := http.PostForm(srv.base+"/api/v1/cti/"+cti, v)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%s %s: %d", v.Get("event"), call.id, resp.StatusCode)
			}
		}
	}
	status, body := get(t, srv.base+"/api/v1/hotline/stats", admin)
	var st struct {
		Total struct {
			Offered, Answered, Abandoned int
			AnswerRate                   float64 `json:"answer_rate"`
		}
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || status != 200 {
		t.Fatalf("stats: %d %s", status, body)
	}
	if st.Total.Offered != 2 || st.Total.Answered != 1 || st.Total.Abandoned != 1 || st.Total.AnswerRate != 0.5 {
		t.Errorf("stats = %s", body)
	}
	if status, _ := get(t, srv.base+"/api/v1/cti/"+cti, ""); status == 200 {
		t.Error("GET on the webhook answered 200")
	}
	if status, body := get(t, srv.base+"/metrics", testMetricsToken); status != 200 || !strings.Contains(body, `route="/api/v1/cti/{token}"`) || strings.Contains(body, cti) {
		t.Errorf("metrics lack the CTI route or show the token")
	}
}
