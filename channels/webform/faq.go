package webform

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/ticketing"
)

// Knowledge answers questions from the knowledge base (knowledge.Index does).
type Knowledge interface {
	Search(ctx context.Context, q string, o ticketing.ArticleQuery) ([]ticketing.ArticleHit, error)
}

// Misses keeps the questions the knowledge base did not answer (the store).
type Misses interface {
	AddArticleMiss(ctx context.Context, m *ticketing.ArticleMiss) error
}

// maxFAQQuery caps a question typed on the public page, in characters.
const maxFAQQuery = 200

// faqHits is how many answers the page shows.
const faqHits = 5

// faqPage is the data of faq.html.
type faqPage struct {
	City, Query string
	Hits        []ticketing.ArticleHit
	Searched    bool
	Error       string
}

// faqPage is GET /faq?q=: the public questions and answers (常见问题), the
// knowledge base's published, valid articles that best answer q.
func (s *Server) faqPage(c *gin.Context) {
	q := strings.TrimSpace(c.Query("q"))
	p := faqPage{City: s.cfg.City, Query: q}
	status := http.StatusOK
	switch {
	case s.cfg.Knowledge == nil:
		p.Error = "知识库暂未开通，请拨打 12345 咨询。"
	case !utf8.ValidString(q) || utf8.RuneCountInString(q) > maxFAQQuery:
		p.Query, status = "", http.StatusBadRequest
		p.Error = "问题太长了，请用一两句话描述（不超过 " + strconv.Itoa(maxFAQQuery) + " 字）。"
	case q != "":
		hits, err := s.cfg.Knowledge.Search(c.Request.Context(), q, ticketing.ArticleQuery{Limit: faqHits})
		if err != nil {
			e := s.logged(c, err)
			status = httpapi.Status(e.Kind)
			p.Error = "知识库暂时无法查询，请稍后再试，或拨打 12345。"
			break
		}
		p.Hits, p.Searched = hits, true
		s.missed(c, q, hits)
	}
	s.render(c, status, "faq.html", p)
}

// missed records a question no article answered well, for the
// departments (never failing the page: the citizen has their answer).
func (s *Server) missed(c *gin.Context, q string, hits []ticketing.ArticleHit) {
	if s.cfg.Misses == nil || (len(hits) > 0 && hits[0].Score >= ticketing.MissScore) {
		return
	}
	// Anyone may ask: what they may leave for the departments to read is
	// held to the reports' rate per client address.
	if s.limiter != nil {
		if ok, _, err := s.limiter.Allow(c.Request.Context(), "faq:"+sourceKey(httpapi.ClientAddr(c.Request))); err != nil || !ok {
			return
		}
	}
	m := &ticketing.ArticleMiss{At: time.Now(), Source: "faq", Question: q}
	if len(hits) > 0 {
		m.Article, m.Score = hits[0].ID, hits[0].Score
	}
	if err := s.cfg.Misses.AddArticleMiss(c.Request.Context(), m); err != nil {
		s.log.Warn("faq: a missed question not recorded", "err", err)
	}
}
