package knowledge

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Labelled is a question as a citizen asks it, with the standard question
// of the article that answers it ("" when none does).
type Labelled struct {
	Question, Article string
}

// ReadLabelled reads a CSV file with the header question,article.
func ReadLabelled(r io.Reader) ([]Labelled, error) {
	cr := csv.NewReader(r)
	head, err := cr.Read()
	if err != nil || len(head) != 2 || strings.TrimPrefix(head[0], "\ufeff") != "question" || head[1] != "article" {
		return nil, errors.New("line 1: the header must be question,article")
	}
	var out []Labelled
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if strings.TrimSpace(rec[0]) == "" {
			return nil, fmt.Errorf("line %d: no question", line)
		}
		out = append(out, Labelled{Question: strings.TrimSpace(rec[0]), Article: strings.TrimSpace(rec[1])})
	}
}

// Evaluation is how well the index answers a labelled set.
type Evaluation struct {
	Questions  int // asked
	Answerable int // with an article that answers them
	Hit1, Hit3 int // answerable ones whose article came first, or in the first three
	// Cuts are, for each score, what answering at once from the first
	// article scoring at least that would do (WeChat's AnswerScore).
	Cuts []Cut
	// Misses are the answerable questions whose article did not come
	// first, with what came first instead ("" nothing).
	Misses []Labelled
	// Latencies are the searches' times, in the set's order.
	Latencies []time.Duration
}

// Cut is answering at once from a score up.
type Cut struct {
	Score float64
	// Answered is how many questions would be answered; Right how many of
	// them by the article that answers them; Wrong the rest (a wrong
	// answer, or one to a question the base cannot answer).
	Answered, Right, Wrong int
}

// Precision is the share of answers that were right.
func (c Cut) Precision() float64 {
	if c.Answered == 0 {
		return 0
	}
	return float64(c.Right) / float64(c.Answered)
}

// Evaluate asks the index every question of set at now. An article is
// known by its standard question.
func Evaluate(ctx context.Context, ix *Index, set []Labelled, now time.Time) (Evaluation, error) {
	ev := Evaluation{Questions: len(set)}
	cuts := []float64{0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}
	ev.Cuts = make([]Cut, len(cuts))
	for i, c := range cuts {
		ev.Cuts[i].Score = c
	}
	for _, l := range set {
		start := time.Now()
		hits, err := ix.Search(ctx, l.Question, ticketing.ArticleQuery{Now: now, Limit: 3})
		if err != nil {
			return ev, fmt.Errorf("%q: %w", l.Question, err)
		}
		ev.Latencies = append(ev.Latencies, time.Since(start))
		var got []string
		for _, h := range hits {
			got = append(got, h.Question)
		}
		if l.Article != "" {
			ev.Answerable++
			if len(got) > 0 && got[0] == l.Article {
				ev.Hit1++
			} else {
				first := ""
				if len(got) > 0 {
					first = got[0]
				}
				ev.Misses = append(ev.Misses, Labelled{Question: l.Question, Article: first})
			}
			if slices.Contains(got, l.Article) {
				ev.Hit3++
			}
		}
		if len(hits) == 0 {
			continue
		}
		for i := range ev.Cuts {
			if hits[0].Score >= ev.Cuts[i].Score {
				ev.Cuts[i].Answered++
				if l.Article != "" && got[0] == l.Article {
					ev.Cuts[i].Right++
				} else {
					ev.Cuts[i].Wrong++
				}
			}
		}
	}
	return ev, nil
}

// Report writes the evaluation for people: hit@1 and hit@3, and what
// answering at once from each score would do.
func (ev Evaluation) Report(w io.Writer) {
	pct := func(n, d int) string {
		if d == 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(d))
	}
	fmt.Fprintf(w, "%d questions, %d with an article that answers them\n", ev.Questions, ev.Answerable)
	fmt.Fprintf(w, "hit@1 %s (%d)  hit@3 %s (%d)\n", pct(ev.Hit1, ev.Answerable), ev.Hit1, pct(ev.Hit3, ev.Answerable), ev.Hit3)
	fmt.Fprintln(w, "answer at once from score   answered   right   wrong   precision   answerable answered right")
	for _, c := range ev.Cuts {
		fmt.Fprintf(w, "  %.1f                       %4d      %4d    %4d    %s      %s\n", c.Score, c.Answered, c.Right, c.Wrong,
			pct(c.Right, c.Answered), pct(c.Right, ev.Answerable))
	}
}
