package hotline_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/knowledge"
	"github.com/yihao-city/yihao/ticketing"
)

// The knowledge base beside the form: a few characters of the caller's
// question bring the article; "答复并直办" closes the call with it linked;
// a ticket logged anyway keeps the article the page offered first.
func TestDeskKnowledge(t *testing.T) {
	ctx := context.Background()
	store := sqliteStore(t)
	transfer := &ticketing.Article{Question: "社保关系跨省转移怎么办理？", Answer: "在转入地社保经办机构申请转移。", Department: "rsj",
		Status: ticketing.ArticlePublished, UpdatedAt: time.Now()}
	fund := &ticketing.Article{Question: "公积金怎么提取？", Answer: "购房、租房可提取。", Department: "zjw",
		Status: ticketing.ArticlePublished, UpdatedAt: time.Now()}
	if _, err := store.PutArticles(ctx, []*ticketing.Article{transfer, fund}); err != nil {
		t.Fatal(err)
	}
	an, err := knowledge.NewAnalyzer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := knowledge.Open(t.TempDir(), an)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	if _, err := ix.Sync(ctx, store); err != nil {
		t.Fatal(err)
	}
	e := newDeskWith(t, store, nil, nil, nil, hotline.AgentPageConfig{Knowledge: ix}, nil)
	addDeskAgents(t, store, "2001")
	session := e.login(t, "2001")

	if r := e.do(t, "POST", "/agent/kb", nil, url.Values{"text": {"社保转"}}); r.code != http.StatusUnauthorized {
		t.Errorf("signed out: %d", r.code)
	}
	r := e.do(t, "POST", "/agent/kb", session, url.Values{"text": {"社保转"}})
	var out struct {
		Articles []struct {
			ID       int64
			Question string
			Answer   string
			Score    float64
		}
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.code != http.StatusOK {
		t.Fatalf("kb: %d %s", r.code, r.body)
	}
	if len(out.Articles) == 0 || out.Articles[0].ID != transfer.ID || out.Articles[0].Answer != transfer.Answer {
		t.Fatalf("kb after three characters: %+v", out)
	}

	number := func(r deskResponse) string {
		t.Helper()
		n, _ := r.json()["number"].(string)
		if r.code != http.StatusOK || n == "" {
			t.Fatalf("ticket: %d %s", r.code, r.body)
		}
		return n
	}
	direct := number(e.do(t, "POST", "/agent/tickets", session, url.Values{"seq": {"1"}, "caller": {"13800138000"},
		"text": {"社保怎么转到外地"}, "direct": {"1"}, "answer": {transfer.Answer}, "article": {itoa(transfer.ID)}, "shown": {itoa(transfer.ID)}}))
	anyway := number(e.do(t, "POST", "/agent/tickets", session, url.Values{"seq": {"1"}, "caller": {"13800138001"},
		"text": {"社保转移办了三个月还没到账"}, "shown": {itoa(transfer.ID)}}))
	plain := number(e.do(t, "POST", "/agent/tickets", session, url.Values{"seq": {"1"}, "caller": {"13800138002"},
		"text": {"问一下几点下班"}, "direct": {"1"}, "answer": {"17点"}, "shown": {itoa(fund.ID)}}))
	for n, want := range map[string]struct {
		status  ticketing.Status
		article int64
	}{direct: {ticketing.StatusResolvedOnContact, transfer.ID}, anyway: {"", transfer.ID}, plain: {ticketing.StatusResolvedOnContact, 0}} {
		tk, err := e.svc.Ticket(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Article != want.article || (want.status != "" && tk.Status != want.status) || (want.status == "" && tk.Status == ticketing.StatusResolvedOnContact) {
			t.Errorf("ticket %s: %s, article %d; want %q, %d", n, tk.Status, tk.Article, want.status, want.article)
		}
	}
	for _, bad := range []url.Values{
		{"seq": {"1"}, "text": {"社保"}, "article": {itoa(transfer.ID)}},                      // an article without 直办
		{"seq": {"1"}, "text": {"社保"}, "direct": {"1"}, "answer": {"答"}, "article": {"x1"}}, // not a number
		{"seq": {"1"}, "text": {"社保"}, "shown": {"-3"}},                                     // not an article's number
	} {
		r := e.do(t, "POST", "/agent/tickets", session, bad)
		if code, field := r.errorField(); r.code != http.StatusBadRequest || code != "invalid" || (field != "article" && field != "shown") {
			t.Errorf("%v: %d %s %s", bad, r.code, code, field)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
