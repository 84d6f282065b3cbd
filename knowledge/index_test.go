package knowledge_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/yihao-city/yihao/knowledge"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

var now = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

// stores are the two stores an index follows.
var stores = []struct {
	name string
	open func(t *testing.T) ticketing.Store
}{
	{"sqlite", func(t *testing.T) ticketing.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "yihao.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"postgres", func(t *testing.T) ticketing.Store {
		s, err := postgres.Open(context.Background(), pgtest.SchemaURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}},
}

func openIndex(t testing.TB) *knowledge.Index {
	t.Helper()
	ix, err := knowledge.Open(t.TempDir(), analyzer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	return ix
}

func art(question, answer string, aliases ...string) *ticketing.Article {
	return &ticketing.Article{Question: question, Aliases: aliases, Answer: answer, Department: "rsj",
		Status: ticketing.ArticlePublished, UpdatedAt: now}
}

// The index follows the store: what is published is found, by the words
// citizens use, in traditional characters or with a homophone; a new
// version replaces the old; a retired or expired article is never offered.
func TestIndexFollowsTheStore(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			s := st.open(t)
			ix := openIndex(t)
			if _, err := ix.Search(ctx, "社保", ticketing.ArticleQuery{Now: now}); !errors.Is(err, ticketing.ErrUnavailable) {
				t.Fatalf("a search before the first sync: %v", err)
			}
			transfer := art("社保关系跨省转移怎么办理？", "可在国家社会保险公共服务平台申请转移，也可到转入地社保经办机构办理。", "换城市工作社保怎么转")
			fund := art("住房公积金怎么提取？", "购房、租房、退休、离开本市可申请提取，网上办理或到管理部窗口。")
			card := art("居住证怎么办理？", "在本市居住半年以上，到社区登记后申领。")
			old := art("2025年供暖补贴怎么申请？", "2025年供暖季已结束。")
			old.ValidUntil = now.Add(-time.Hour)
			if _, err := s.PutArticles(ctx, []*ticketing.Article{transfer, fund, card, old}); err != nil {
				t.Fatal(err)
			}
			if n, err := ix.Sync(ctx, s); err != nil || n != 4 || ix.Len() != 4 {
				t.Fatalf("first sync: %d, %v (%d indexed)", n, err, ix.Len())
			}
			for q, want := range map[string]int64{
				"我之前在外地交的社保现在回来了能转回来吗": transfer.ID,
				"社會保險轉移":  transfer.ID,
				"设保转移怎么弄": transfer.ID, // a recogniser's homophone
				"公积金取钱":   fund.ID,
				"工积金提取":   fund.ID,
				"办居住证要什么": card.ID,
			} {
				hits, err := ix.Search(ctx, q, ticketing.ArticleQuery{Now: now})
				if err != nil {
					t.Fatal(err)
				}
				if len(hits) == 0 || hits[0].ID != want {
					t.Errorf("%s: %+v, want article %d first", q, hits, want)
				} else if hits[0].Score <= 0 || hits[0].Score > 1 {
					t.Errorf("%s: score %v", q, hits[0].Score)
				}
			}
			if hits, _ := ix.Search(ctx, "供暖补贴", ticketing.ArticleQuery{Now: now}); len(hits) != 0 {
				t.Errorf("an expired article offered: %+v", hits)
			}
			if hits, _ := ix.Search(ctx, "路灯不亮了", ticketing.ArticleQuery{Now: now}); len(hits) != 0 && hits[0].Score > 0.3 {
				t.Errorf("a question the base cannot answer scored %v: %+v", hits[0].Score, hits[0])
			}
			// A new answer replaces the old; a retired article leaves.
			transfer.Answer = "网上申请：国家社会保险公共服务平台“社保关系转移”。"
			transfer.UpdatedAt = now.Add(time.Minute)
			card.Status = ticketing.ArticleRetired
			if _, err := s.PutArticles(ctx, []*ticketing.Article{transfer, card}); err != nil {
				t.Fatal(err)
			}
			if n, err := ix.Sync(ctx, s); err != nil || n != 2 || ix.Len() != 3 {
				t.Fatalf("second sync: %d, %v (%d indexed)", n, err, ix.Len())
			}
			if hits, _ := ix.Search(ctx, "社保转移", ticketing.ArticleQuery{Now: now}); len(hits) == 0 || hits[0].Answer != transfer.Answer || hits[0].Version != 2 {
				t.Errorf("after the change: %+v", hits)
			}
			if hits, _ := ix.Search(ctx, "居住证", ticketing.ArticleQuery{Now: now}); len(hits) != 0 {
				t.Errorf("a retired article offered: %+v", hits)
			}
			if n, err := ix.Sync(ctx, s); err != nil || n != 0 {
				t.Errorf("a sync with nothing new: %d, %v", n, err)
			}
			// Words the base did not know when last asked are found once an
			// article brings them: a search's remembered counts go with a sync.
			if hits, _ := ix.Search(ctx, "垃圾分类投放时间", ticketing.ArticleQuery{Now: now}); len(hits) != 0 {
				t.Fatalf("before the article: %+v", hits)
			}
			sorting := art("垃圾分类投放时间是什么时候？", "早7点至9点、晚6点至8点，在小区定时定点投放。")
			if _, err := s.PutArticles(ctx, []*ticketing.Article{sorting}); err != nil {
				t.Fatal(err)
			}
			if n, err := ix.Sync(ctx, s); err != nil || n != 1 {
				t.Fatalf("third sync: %d, %v", n, err)
			}
			if hits, _ := ix.Search(ctx, "垃圾分类投放时间", ticketing.ArticleQuery{Now: now}); len(hits) == 0 || hits[0].ID != sorting.ID {
				t.Errorf("after the article: %+v, want article %d", hits, sorting.ID)
			}
		})
	}
}
