package desks_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/desks"
	"github.com/yihao-city/yihao/knowledge"
	"github.com/yihao-city/yihao/ticketing"
)

// knowledgeOf is a knowledge index following st, synced once.
func knowledgeOf(t *testing.T, st ticketing.Store) *knowledge.Index {
	t.Helper()
	an, err := knowledge.NewAnalyzer([][]string{{"社保", "社会保险"}})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := knowledge.Open(t.TempDir(), an)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	if _, err := ix.Sync(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return ix
}

// Staff ask the knowledge base by session or bearer token; the best
// answer comes first with its score; bad questions are refused by name.
func TestKnowledgeSearchAPI(t *testing.T) {
	ctx := context.Background()
	st := sqliteStore(t)
	transfer := &ticketing.Article{Question: "社保关系跨省转移怎么办理？", Answer: "在转入地社保经办机构申请转移。", Department: "rsj",
		Status: ticketing.ArticlePublished, UpdatedAt: time.Now()}
	card := &ticketing.Article{Question: "居住证怎么办理？", Answer: "到社区登记后申领。", Department: "gaj",
		Status: ticketing.ArticlePublished, UpdatedAt: time.Now()}
	if _, err := st.PutArticles(ctx, []*ticketing.Article{transfer, card}); err != nil {
		t.Fatal(err)
	}
	kb := knowledgeOf(t, st)
	e := newEnvOn(t, st, func(c *desks.Config) { c.Knowledge = kb })
	agent := e.login(t, "agent")
	r := agent.get(t, "/api/v1/kb/search?q="+url.QueryEscape("社會保險轉到外地"))
	var out struct {
		Articles []struct {
			ID         int64
			Question   string
			Answer     string
			Department string
			Score      float64
		}
	}
	if r.code != http.StatusOK {
		t.Fatalf("search: %d %s", r.code, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Articles) == 0 || out.Articles[0].ID != transfer.ID || out.Articles[0].Answer != transfer.Answer ||
		out.Articles[0].Department != "rsj" || out.Articles[0].Score <= 0 {
		t.Fatalf("search: %+v", out)
	}
	for q, field := range map[string]string{"": "q", "q=%20": "q", "q=x&limit=0": "limit", "q=x&limit=21": "limit", "q=x&limit=1e1": "limit"} {
		r := agent.get(t, "/api/v1/kb/search?"+q)
		if code, f := r.errorOf(t); r.code != http.StatusBadRequest || f != field {
			t.Errorf("%q: %d %s %s", q, r.code, code, f)
		}
	}
}

// The keepers' page: a liaison sees the department's own articles, with
// the calls each answered and the tickets asked for after it was shown;
// and the citizens' questions no article answered.
func TestKnowledgePage(t *testing.T) {
	ctx := context.Background()
	st := sqliteStore(t)
	now := time.Now()
	jt := &ticketing.Article{Question: "公交卡怎么办理？", Answer: "到地铁站办理。", Department: "jt", Status: ticketing.ArticlePublished,
		UpdatedAt: now, ValidUntil: now.Add(72 * time.Hour)}
	sw := &ticketing.Article{Question: "停水了怎么查询？", Answer: "拨打供水热线。", Department: "sw", Status: ticketing.ArticlePublished, UpdatedAt: now}
	if _, err := st.PutArticles(ctx, []*ticketing.Article{jt, sw}); err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, st, func(c *desks.Config) { c.Knowledge = knowledgeOf(t, st) })
	if _, _, err := e.svc.SubmitResolved(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: "kbp-1", Text: "公交卡在哪办",
		Article: jt.ID}, "agent:2001", jt.Answer); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "kbp-2", Text: "公交卡办了一个月还没拿到",
		Article: jt.ID}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddArticleMiss(ctx, &ticketing.ArticleMiss{At: now, Source: "faq", Question: "公交卡能退押金吗", Article: jt.ID, Score: 0.2}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddArticleMiss(ctx, &ticketing.ArticleMiss{At: now, Source: "faq", Question: "水费能退吗", Article: sw.ID, Score: 0.2}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RollupIndicators(ctx, time.UTC); err != nil {
		t.Fatal(err)
	}
	r := e.login(t, "li.jt").get(t, "/desk/kb")
	if r.code != http.StatusOK {
		t.Fatalf("kb page: %d", r.code)
	}
	for _, want := range []string{`data-article="` + itoa(jt.ID) + `"`, "公交卡怎么办理？", `<td data-col="kb_answered">1</td><td data-col="kb_ticketed">1</td>`,
		"即将到期", "公交卡能退押金吗"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the liaison's page lacks %q", want)
		}
	}
	if strings.Contains(r.body, "停水了怎么查询？") || strings.Contains(r.body, "水费能退吗") {
		t.Error("a liaison sees another department's article or question")
	}
	if r := e.login(t, "disp").get(t, "/desk/kb"); !strings.Contains(r.body, "停水了怎么查询？") || !strings.Contains(r.body, "公交卡怎么办理？") ||
		!strings.Contains(r.body, "水费能退吗") {
		t.Error("the dispatcher does not see every article and question")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
