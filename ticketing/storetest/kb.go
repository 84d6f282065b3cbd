package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yihao-city/yihao/ticketing"
)

func kbTests() []storeTest {
	return []storeTest{{"Articles", testArticles}, {"ArticlesAllOrNothing", testArticlesAllOrNothing},
		{"ArticleTallies", testArticleTallies}, {"ArticleMisses", testArticleMisses}}
}

func article(question, answer string) *ticketing.Article {
	return &ticketing.Article{Question: question, Answer: answer, Department: "rsj", Category: "labor",
		Status: ticketing.ArticlePublished, UpdatedBy: "admin", UpdatedAt: base}
}

// putArticles writes as and says how many were written.
func putArticles(t *testing.T, s ticketing.Store, as ...*ticketing.Article) int {
	t.Helper()
	n, err := s.PutArticles(context.Background(), as)
	if err != nil {
		t.Fatalf("PutArticles: %v", err)
	}
	return n
}

// since lists the questions written after (rev, id) with their versions.
func since(t *testing.T, s ticketing.Store, rev, id int64) []string {
	t.Helper()
	as, err := s.ArticlesSince(context.Background(), rev, id, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Question)
	}
	return out
}

// Articles are added, found again by department and question (an import
// run twice writes nothing the second time), changed into new versions
// with the old kept, and followed by revision.
func testArticles(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	transfer := article("社保关系跨省转移怎么办理？", "在转入地社保经办机构申请，带身份证。")
	transfer.Aliases = []string{"社保怎么转到外地", "养老保险转移"}
	transfer.Source = "社会保险关系转移接续办事指南"
	until := time.Date(2027, 12, 31, 16, 0, 0, 0, time.UTC)
	fund := article("公积金怎么提取？", "租房、购房、退休可以提取。")
	fund.ValidUntil = until
	if n := putArticles(t, s, transfer, fund); n != 2 || transfer.ID == 0 || fund.ID == 0 || transfer.ID == fund.ID ||
		transfer.Version != 1 || transfer.Rev == 0 || fund.Rev != transfer.Rev {
		t.Fatalf("added %d: %+v %+v", n, transfer, fund)
	}
	got, err := s.Article(ctx, transfer.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(transfer, got); d != "" {
		t.Errorf("stored (-put +got):\n%s", d)
	}
	if got, _ := s.Article(ctx, fund.ID); !got.ValidUntil.Equal(until) || !got.ValidFrom.IsZero() {
		t.Errorf("validity %v–%v", got.ValidFrom, got.ValidUntil)
	}
	if got := since(t, s, 0, 0); len(got) != 2 {
		t.Errorf("since the start: %v", got)
	}
	first := transfer.Rev

	// The same file again: nothing written, the ids found.
	again := article("社保关系跨省转移怎么办理？", "在转入地社保经办机构申请，带身份证。")
	again.Aliases, again.Source, again.UpdatedAt = []string{"社保怎么转到外地", "养老保险转移"}, transfer.Source, base.Add(time.Hour)
	if n := putArticles(t, s, again); n != 0 || again.ID != transfer.ID || again.Version != 1 {
		t.Errorf("the same article again: %d written, %+v", n, again)
	}
	// A new answer is a new version; the first is kept.
	changed := article("社保关系跨省转移怎么办理？", "可在国家社会保险公共服务平台网上申请，也可到转入地窗口办理。")
	changed.UpdatedAt = base.Add(2 * time.Hour)
	if n := putArticles(t, s, changed); n != 1 || changed.ID != transfer.ID || changed.Version != 2 || changed.Rev <= first ||
		!changed.CreatedAt.Equal(transfer.CreatedAt) {
		t.Fatalf("changed: %d, %+v", n, changed)
	}
	if got := since(t, s, first, fund.ID); len(got) != 1 || got[0] != changed.Question {
		t.Errorf("since the first import: %v", got)
	}
	// By id, the question itself may change.
	renamed := *changed
	renamed.Question, renamed.UpdatedAt = "社保跨省转移接续怎么办？", base.Add(3*time.Hour)
	if n := putArticles(t, s, &renamed); n != 1 || renamed.Version != 3 {
		t.Fatalf("renamed: %d, %+v", n, renamed)
	}
	vs, err := s.ArticleVersions(ctx, transfer.ID)
	if err != nil {
		t.Fatal(err)
	}
	var history []string
	for _, v := range vs {
		history = append(history, v.Question+"|"+v.Answer)
	}
	want := []string{transfer.Question + "|" + transfer.Answer, changed.Question + "|" + changed.Answer, renamed.Question + "|" + renamed.Answer}
	if d := cmp.Diff(want, history); d != "" {
		t.Errorf("versions (-want +got):\n%s", d)
	}
	if _, err := s.Article(ctx, 999999); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("an unknown article: %v", err)
	}
	if _, err := s.ArticleVersions(ctx, 999999); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("an unknown article's versions: %v", err)
	}
}

// A batch with one bad article, or one naming an unknown id, writes
// nothing.
func testArticlesAllOrNothing(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	bad := article("医保异地就医怎么备案？", "")
	if _, err := s.PutArticles(ctx, []*ticketing.Article{article("居住证怎么办理？", "到社区登记。"), bad}); !errors.Is(err, ticketing.ErrInvalid) {
		t.Errorf("an article with no answer: %v", err)
	}
	ghost := article("身份证丢了怎么补办？", "到户籍所在地派出所。")
	ghost.ID = 424242
	if _, err := s.PutArticles(ctx, []*ticketing.Article{article("居住证怎么办理？", "到社区登记。"), ghost}); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("an unknown id: %v", err)
	}
	if got := since(t, s, 0, 0); len(got) != 0 {
		t.Errorf("a failed batch left %v", got)
	}
}

// A call answered with an article (直办) and a ticket asked for after an
// article was shown keep the article, and count by it.
func testArticleTallies(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	c := &clock{}
	svc := ticketing.NewService(s, router{}, ticketing.WithClock(c.now), ticketing.WithLocation(time.UTC))
	answered, _, err := svc.SubmitResolved(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: "kb-1",
		Text: "社保怎么转到外地", Article: 7}, "agent:2001", "在转入地申请转移。")
	if err != nil {
		t.Fatal(err)
	}
	anyway, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeChat, ExternalID: "kb-2",
		Text: "社保转移办了三个月还没好", Article: 7})
	if err != nil {
		t.Fatal(err)
	}
	plain, _, err := svc.SubmitResolved(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: "kb-3", Text: "几点下班"}, "agent:2001", "17点。")
	if err != nil {
		t.Fatal(err)
	}
	for tk, want := range map[*ticketing.Ticket]int64{answered: 7, anyway: 7, plain: 0} {
		if got, err := svc.Ticket(ctx, tk.Number); err != nil || got.Article != want {
			t.Errorf("ticket %s: article %d, want %d (%v)", tk.Number, got.Article, want, err)
		}
	}
	rollup(t, s, time.UTC)
	got := counts(t, s, ticketing.IndicatorQuery{Dim: ticketing.DimArticle, From: "2026-11-25", To: "2026-11-26"})
	if got["7 kb_answered"] != 1 || got["7 kb_ticketed"] != 1 || got["7 answered"] != 1 || got["7 received"] != 2 {
		t.Errorf("article 7: %v", got)
	}
	for k := range got {
		if !strings.HasPrefix(k, "7 ") {
			t.Errorf("a count of no article in their breakdown: %s", k)
		}
	}
	all := counts(t, s, ticketing.IndicatorQuery{Dim: ticketing.DimAll, From: "2026-11-25", To: "2026-11-26"})
	if all["answered"] != 2 || all["kb_answered"] != 1 || all["kb_ticketed"] != 1 {
		t.Errorf("the city: %v", all)
	}
}

// The questions the base missed are kept, cut to length, latest first;
// the articles are listed by department.
func testArticleMisses(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	long := strings.Repeat("长", ticketing.MaxArticleQuestion+10)
	for i, q := range []string{"小区门口路灯坏了，电话13812345678", long, "公积金缴存比例是多少"} {
		m := &ticketing.ArticleMiss{At: base.Add(time.Duration(i) * time.Minute), Source: "faq", Question: q, Article: int64(i), Score: 0.1}
		if err := s.AddArticleMiss(ctx, m); err != nil || m.ID == 0 {
			t.Fatalf("AddArticleMiss: %v (id %d)", err, m.ID)
		}
	}
	if all, err := s.ArticleMisses(ctx, base, 10); err != nil || len(all) != 3 || all[2].Question != "小区门口路灯坏了，电话138****5678" {
		t.Errorf("a number in a question is kept masked: %+v, %v", all, err)
	}
	if err := s.AddArticleMiss(ctx, &ticketing.ArticleMiss{At: base, Source: "faq", Question: "  "}); !errors.Is(err, ticketing.ErrInvalid) {
		t.Errorf("an empty question: %v", err)
	}
	got, err := s.ArticleMisses(ctx, base.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Question != "公积金缴存比例是多少" || got[0].Article != 2 || got[0].Score != 0.1 ||
		!got[0].At.Equal(base.Add(2*time.Minute)) || len([]rune(got[1].Question)) != ticketing.MaxArticleQuestion {
		t.Errorf("misses since the second: %+v", got)
	}
	a, b := article("社保怎么转？", "转入地申请。"), article("居住证怎么办？", "社区登记。")
	b.Department = "gaj"
	putArticles(t, s, a, b)
	for dept, want := range map[string]int{"": 2, "rsj": 1, "gaj": 1, "jyj": 0} {
		as, err := s.Articles(ctx, ticketing.ArticleFilter{Department: dept})
		if err != nil || len(as) != want {
			t.Errorf("articles of %q: %d, %v; want %d", dept, len(as), err, want)
		}
	}
}
