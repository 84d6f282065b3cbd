package desks

import (
	"cmp"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/ticketing"
)

// Limits of a knowledge-base search: a question of a sentence or two, and
// as many answers as fit beside a form.
const (
	maxKBQuery = 200
	maxKBHits  = 20
)

// articleJSON is one answer of GET /api/v1/kb/search.
type articleJSON struct {
	ID         int64   `json:"id"`
	Version    int     `json:"version"`
	Question   string  `json:"question"`
	Answer     string  `json:"answer"`
	Category   string  `json:"category,omitempty"`
	Department string  `json:"department"`
	Area       string  `json:"area,omitempty"`
	Score      float64 `json:"score"`
}

// apiKBSearch is GET /api/v1/kb/search?q=&limit=: the published, valid
// articles that best answer q, best first, each with its score (0–1: how
// much of the question its own phrasings cover).
func (s *Server) apiKBSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	switch {
	case q == "":
		s.fail(w, r, ticketing.Invalid("q", "the question is required"))
		return
	case !utf8.ValidString(q) || utf8.RuneCountInString(q) > maxKBQuery:
		s.fail(w, r, ticketing.Invalid("q", "at most %d characters", maxKBQuery))
		return
	case s.cfg.Knowledge == nil:
		s.fail(w, r, ticketing.Unavailable(errors.New("no knowledge base is configured")))
		return
	}
	limit := 5
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || !ticketing.Decimal(l) || n < 1 || n > maxKBHits {
			s.fail(w, r, ticketing.Invalid("limit", "must be 1 to %d", maxKBHits))
			return
		}
		limit = n
	}
	hits, err := s.cfg.Knowledge.Search(r.Context(), q, ticketing.ArticleQuery{Now: s.cfg.Now(), Limit: limit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Articles []articleJSON `json:"articles"`
	}{Articles: make([]articleJSON, len(hits))}
	for i, h := range hits {
		out.Articles[i] = articleJSON{ID: h.ID, Version: h.Version, Question: h.Question, Answer: h.Answer, Category: h.Category,
			Department: h.Department, Area: h.Area, Score: math.Round(h.Score*1000) / 1000}
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// kbDays is the period the knowledge-base page counts over.
const kbDays = 30

// kbRow is one article on the page, with how it fared over the period.
type kbRow struct {
	A                *ticketing.Article
	Answered, Anyway int64 // calls it answered; tickets asked for after it was shown
	Expires          bool  // its validity ends within the period ahead
	Expired          bool
}

// kbData is the page's .Data.
type kbData struct {
	Department string
	Rows       []kbRow
	Misses     []*ticketing.ArticleMiss
	Days       int
}

// getKB is GET /desk/kb: the knowledge base as its keepers need it — each
// article (a liaison's: the department's own) with the calls it answered
// and the tickets asked for after it was shown over the last 30 days,
// those falling short first, and whether its validity has run out or is
// about to; then the citizens' questions no article answered well (a
// liaison's: those whose nearest article is the department's).
func (s *Server) getKB(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st := staffFrom(ctx)
	d := kbData{Department: strings.TrimSpace(r.URL.Query().Get("department")), Days: kbDays}
	if st.Role == liaison {
		d.Department = st.Department
	}
	now := s.cfg.Now().In(s.cfg.Location)
	as, err := s.store.Articles(ctx, ticketing.ArticleFilter{Department: d.Department})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.cfg.Location)
	counts, err := s.store.Indicators(ctx, ticketing.IndicatorQuery{Dim: ticketing.DimArticle,
		From: today.AddDate(0, 0, -kbDays+1).Format(time.DateOnly), To: today.AddDate(0, 0, 1).Format(time.DateOnly),
		Metrics: []ticketing.Metric{ticketing.MetricKBAnswered, ticketing.MetricKBTicketed}})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	by := map[string]ticketing.Figures{}
	for _, c := range counts {
		if by[c.Key] == nil {
			by[c.Key] = ticketing.Figures{}
		}
		by[c.Key][c.Metric] += c.N
	}
	for _, a := range as {
		f := by[strconv.FormatInt(a.ID, 10)]
		d.Rows = append(d.Rows, kbRow{A: a, Answered: f[ticketing.MetricKBAnswered], Anyway: f[ticketing.MetricKBTicketed],
			Expired: !a.ValidUntil.IsZero() && !now.Before(a.ValidUntil),
			Expires: !a.ValidUntil.IsZero() && now.Before(a.ValidUntil) && a.ValidUntil.Before(now.AddDate(0, 0, kbDays))})
	}
	slices.SortStableFunc(d.Rows, func(a, b kbRow) int {
		return cmp.Or(cmp.Compare(b.Anyway, a.Anyway), cmp.Compare(b.Answered, a.Answered))
	})
	misses, err := s.store.ArticleMisses(ctx, now.AddDate(0, 0, -kbDays), 100)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// A liaison reads the questions nearest the department's own articles;
	// the centre reads them all.
	own := map[int64]bool{}
	for _, a := range as {
		own[a.ID] = true
	}
	for _, m := range misses {
		if st.Role != liaison || own[m.Article] {
			d.Misses = append(d.Misses, m)
		}
	}
	s.page(w, r, "kb.html", d)
}
