package knowledge_test

import (
	"slices"
	"testing"

	"github.com/yihao-city/yihao/knowledge"
)

func analyzer(t testing.TB) *knowledge.Analyzer {
	t.Helper()
	a, err := knowledge.NewAnalyzer([][]string{{"社保", "社会保险"}, {"公积金", "住房公积金"}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The same question asked in traditional characters, full-width letters,
// in other words or with a homophone shares its terms with the article.
func TestAnalyze(t *testing.T) {
	a := analyzer(t)
	want := a.Analyze("社保转移")
	if !slices.Equal(want.Words(), []string{"社保", "保转", "转移"}) || !slices.Equal(want.Sounds(), []string{"sebao", "baozuan", "zuanyi"}) {
		t.Fatalf("社保转移: %+v", want)
	}
	for _, s := range []string{"社會保險轉移", "社会保险转移", "请问社保怎么转移"} {
		got := a.Analyze(s)
		for _, w := range []string{"社保", "转移"} {
			if !slices.Contains(got.Words(), w) {
				t.Errorf("%s: words %v lack %s", s, got.Words(), w)
			}
		}
	}
	// 设保 (a recogniser's homophone) shares the sounds, not the words.
	typo := a.Analyze("设保转移")
	if slices.Contains(typo.Words(), "社保") || !slices.Contains(typo.Sounds(), "sebao") {
		t.Errorf("设保转移: %+v", typo)
	}
	// zh/z and -ng/-n fold together: 住 (zhu) and 驻 (zhu), 正 (zheng) and 怎 (zen).
	if a, b := a.Analyze("正常"), a.Analyze("怎常"); !slices.Equal(a.Sounds(), b.Sounds()) {
		t.Errorf("folded sounds differ: %v %v", a.Sounds(), b.Sounds())
	}
	mixed := a.Analyze("ＥＴＣ卡12345办理")
	if !slices.Equal(mixed.Words(), []string{"etc", "卡", "12345", "办理"}) {
		t.Errorf("mixed: %+v", mixed)
	}
	if got := a.Analyze("请问社保怎么转移"); !slices.Equal(got.Words(), []string{"社保", "转移"}) {
		t.Errorf("the words of the asking are breaks: %+v", got)
	}
	if got := a.Analyze("请问怎么"); len(got) != 0 {
		t.Errorf("only how it is asked: %+v", got)
	}
}

func TestNewAnalyzerBadSynonyms(t *testing.T) {
	for _, g := range [][]string{{"社保"}, {"社保", ""}, {"社保", "社保"}} {
		if _, err := knowledge.NewAnalyzer([][]string{g}); err == nil {
			t.Errorf("%q accepted", g)
		}
	}
}

// BenchmarkAnalyze is one WeChat question's analysis, as the knowledge
// base's search makes it for every push it may answer.
func BenchmarkAnalyze(b *testing.B) {
	a, err := knowledge.NewAnalyzer([][]string{{"社保", "社会保险"}})
	if err != nil {
		b.Fatal(err)
	}
	const q = "请问社会保险关系怎么从外地转移到本市？我在朝阳区上班，單位說要先開轉移證明"
	for b.Loop() {
		a.Analyze(q)
	}
}
