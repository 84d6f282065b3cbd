package knowledge_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/knowledge"
	"github.com/yihao-city/yihao/ticketing"
)

var shanghai = time.FixedZone("CST", 8*3600)

func TestReadCSV(t *testing.T) {
	in := "\ufeffquestion,answer,category,department,aliases,valid_until\n" +
		"社保关系跨省转移怎么办理？,到转入地申请。,labor,rsj,社保怎么转|养老保险转移,2027-12-31\n" +
		"\"公积金怎么提取？\",\"购房、租房可提取，带身份证。\",,zjw,,\n"
	f, err := knowledge.ReadCSV(strings.NewReader(in), "admin", now, shanghai)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Articles) != 2 || f.Articles[0].Line != 2 || f.Articles[1].Line != 3 {
		t.Fatalf("entries %+v", f.Articles)
	}
	a := f.Articles[0].Article
	if a.Question != "社保关系跨省转移怎么办理？" || len(a.Aliases) != 2 || a.Department != "rsj" || a.Status != ticketing.ArticlePublished ||
		!a.ValidUntil.Equal(time.Date(2028, 1, 1, 0, 0, 0, 0, shanghai)) || a.UpdatedBy != "admin" {
		t.Errorf("first article %+v", a)
	}
}

// A bad row is named by its line, and nothing is returned.
func TestReadCSVErrors(t *testing.T) {
	const head = "question,answer,category,department\n"
	for in, want := range map[string]string{
		"":                          "line 1",
		"question,answer\n社保？,答。\n": `line 1: the header lacks "category"`,
		"question,answer,category,department,x\n": `line 1: unknown column "x"`,
		head: "line 1: no articles",
		head + "社保？,答。,labor,rsj\n,答。,labor,rsj\n":                                       "line 3: question: is required",
		head + "社保？,答。,labor,\n":                                                         "line 2: department:",
		head + "社保？,答。,labor,rsj\na\"b,c,d,e\n":                                          "line 3: ",
		head + "社保？,答。,labor,rsj,extra\n":                                                "line 2: ",
		"question,answer,category,department,valid_until\n社保？,答。,labor,rsj,31/12/2027\n": "line 2: valid_until: must be a date",
	} {
		_, err := knowledge.ReadCSV(strings.NewReader(in), "admin", now, shanghai)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
		var le *knowledge.LineError
		if err != nil && !errors.As(err, &le) {
			t.Errorf("%q: %T is not a line error", in, err)
		}
	}
}

func TestReadYAML(t *testing.T) {
	in := `synonyms:
  - [社保, 社会保险]
articles:
  - question: 社保关系跨省转移怎么办理？
    aliases: [社保怎么转]
    answer: 到转入地申请。
    category: labor
    department: rsj
  - question: 公积金怎么提取？
    answer: 购房、租房可提取。
    department: zjw
    status: draft
`
	f, err := knowledge.ReadYAML(strings.NewReader(in), "admin", now, shanghai)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Synonyms) != 1 || len(f.Articles) != 2 || f.Articles[1].Line != 9 || f.Articles[1].Article.Status != ticketing.ArticleDraft {
		t.Fatalf("%+v", f)
	}
	for in, want := range map[string]string{
		"articles:\n  - question: 社保？\n    answr: 答。\n    department: rsj\n": `line 3: unknown field "answr"`,
		"articles:\n  - question: 社保？\n    answer: 答。\n":                     "line 2: department:",
		"articles:\n  - 社保\n": "line 2: an article is a mapping",
		"articles: [\n":       "line",
	} {
		if _, err := knowledge.ReadYAML(strings.NewReader(in), "admin", now, shanghai); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
