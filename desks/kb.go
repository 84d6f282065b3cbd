package desks

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/knowledge"
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
	hits, err := s.cfg.Knowledge.Search(r.Context(), q, knowledge.Query{Now: s.cfg.Now(), Limit: limit})
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
