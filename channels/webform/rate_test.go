package webform_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// A citizen rates a closed ticket from its tracking page, once; a wrong
// tracking code, a missing score or an open ticket change nothing.
func TestRateFromTrackingPage(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	tk, _, err := e.svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "rate-1",
		Text: "小区路灯不亮", Category: "0101"})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	rate := func(token, score string) (int, string) {
		t.Helper()
		resp, err := client.PostForm(e.srv.URL+"/t/"+tk.Number+"/rate", url.Values{"token": {token}, "score": {score}, "comment": {"修得很快"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location") + string(b)
	}
	page := func() string {
		t.Helper()
		resp, err := http.Get(e.srv.URL + "/t/" + tk.Number + "?token=" + tk.TrackToken)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if strings.Contains(page(), `id="rate"`) {
		t.Error("an open ticket offers the rating form")
	}
	if code, body := rate(tk.TrackToken, "5"); code != http.StatusConflict || !strings.Contains(body, "尚未办结") {
		t.Errorf("rating an open ticket: %d %.200s", code, body)
	}
	if tk.Status != ticketing.StatusDispatched {
		t.Fatalf("status %s; the demo catalogue should dispatch category 0101", tk.Status)
	}
	for _, step := range []func(*ticketing.Ticket, time.Time) error{
		func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "liaison") },
		func(t *ticketing.Ticket, now time.Time) error {
			for _, d := range t.Pending() { // the demo's rule names an assisting department
				if err := t.ReportPart(now, "liaison:"+d, d, "已配合"); err != nil {
					return err
				}
			}
			return t.ReportHandled(now, "liaison", "已更换灯泡")
		},
		func(t *ticketing.Ticket, now time.Time) error { return t.Verify(now, "dispatcher", true, "") },
	} {
		if _, err := e.svc.Act(ctx, tk.Number, step); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(page(), `id="rate"`) {
		t.Fatal("a closed ticket offers no rating form")
	}
	if code, _ := rate("wrong-token", "5"); code != http.StatusNotFound {
		t.Errorf("wrong token: %d, want 404", code)
	}
	if code, body := rate(tk.TrackToken, "9"); code != http.StatusBadRequest || !strings.Contains(body, "1 到 5") {
		t.Errorf("score 9: %d %.200s", code, body)
	}
	if got, _ := e.svc.Ticket(ctx, tk.Number); got.Evaluation != nil {
		t.Fatalf("refused ratings left an evaluation: %+v", got.Evaluation)
	}
	if code, loc := rate(tk.TrackToken, "4"); code != http.StatusSeeOther || !strings.Contains(loc, "rated=1") {
		t.Fatalf("rating: %d %.200s", code, loc)
	}
	if p := page(); !strings.Contains(p, "您的评价：4 分") || strings.Contains(p, `id="rate"`) {
		t.Errorf("after rating the page shows no rating, or the form again")
	}
	got, _ := e.svc.Ticket(ctx, tk.Number)
	if ev := got.Evaluation; ev == nil || ev.Score != 4 || ev.Satisfaction != ticketing.Satisfied || !ev.Solved || ev.Comment != "修得很快" {
		t.Errorf("evaluation %+v", ev)
	}
	if code, body := rate(tk.TrackToken, "1"); code != http.StatusConflict || !strings.Contains(body, "已评价") {
		t.Errorf("second rating: %d %.200s", code, body)
	}
}
