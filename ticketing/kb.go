package ticketing

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Article is an entry of the knowledge base (知识库): a question citizens
// ask and the answer the centre gives on the call instead of a ticket
// (直办). Departments write them, the centre reviews and publishes them;
// every change is a new version, and the old ones are kept.
type Article struct {
	ID      int64
	Version int // 1 when written, one more at each change
	// Question is the standard question (标准问); with Department it names
	// the article, so importing a file again updates rather than repeats.
	Question string
	Aliases  []string // other ways citizens ask it (相似问法)
	Answer   string
	// Category is a catalogue category code, Department the owning
	// department's; Area a district or street the answer holds in ("" the
	// whole city).
	Category, Department, Area string
	// ValidFrom and ValidUntil bound when the answer holds (zero: open);
	// an article out of them is never offered.
	ValidFrom, ValidUntil time.Time
	Source                string // the policy document it rests on (文件名、文号)
	Status                ArticleStatus
	UpdatedBy             string
	CreatedAt, UpdatedAt  time.Time
	// Rev is the store's change counter when it was last written: every
	// write takes a higher one, so a search index follows the store by
	// asking what changed after the last it saw (ArticleStore.ArticlesSince).
	Rev int64
}

// ArticleStatus is where an article is in its review.
type ArticleStatus string

const (
	ArticleDraft     ArticleStatus = "draft"     // written, waiting for the centre's review
	ArticlePublished ArticleStatus = "published" // offered to agents and citizens
	ArticleRetired   ArticleStatus = "retired"   // no longer offered, kept for the record
)

// Limits on an article's fields: answers are read out on a call or sent as
// one WeChat message, so they stay short.
const (
	MaxArticleQuestion = 200  // characters
	MaxArticleAnswer   = 2000 // characters
	MaxArticleAliases  = 20
	MaxArticleSource   = 200
)

// Validate trims a's texts in place and checks its fields; the error names
// the first one that is wrong.
func (a *Article) Validate() error {
	a.Question, a.Answer, a.Source = strings.TrimSpace(a.Question), strings.TrimSpace(a.Answer), strings.TrimSpace(a.Source)
	a.Category, a.Department, a.Area = strings.TrimSpace(a.Category), strings.TrimSpace(a.Department), strings.TrimSpace(a.Area)
	if err := articleText("question", a.Question, MaxArticleQuestion); err != nil {
		return err
	}
	if err := articleText("answer", a.Answer, MaxArticleAnswer); err != nil {
		return err
	}
	if len(a.Aliases) > MaxArticleAliases {
		return Invalid("aliases", "at most %d other phrasings", MaxArticleAliases)
	}
	for i, s := range a.Aliases {
		s = strings.TrimSpace(s)
		if err := articleText("aliases", s, MaxArticleQuestion); err != nil {
			return err
		}
		if s == a.Question || slices.Contains(a.Aliases[:i], s) {
			return Invalid("aliases", "%q is listed twice", s)
		}
		a.Aliases[i] = s
	}
	if a.Department == "" {
		return Invalid("department", "an article belongs to a department, which keeps it current")
	}
	for _, f := range [][2]string{{"category", a.Category}, {"department", a.Department}, {"area", a.Area}} {
		if !validDepartment(f[1]) {
			return Invalid(f[0], "must be a code: at most %d printable characters without spaces", MaxDepartmentCodeLen)
		}
	}
	if utf8.RuneCountInString(a.Source) > MaxArticleSource || !printable(a.Source) {
		return Invalid("source", "must be at most %d printable characters", MaxArticleSource)
	}
	if !a.ValidFrom.IsZero() && !a.ValidUntil.IsZero() && !a.ValidUntil.After(a.ValidFrom) {
		return Invalid("valid_until", "must be after valid_from")
	}
	switch a.Status {
	case ArticleDraft, ArticlePublished, ArticleRetired:
	default:
		return Invalid("status", "must be draft, published or retired")
	}
	if a.UpdatedAt.IsZero() {
		return Invalid("updated_at", "missing time")
	}
	return nil
}

// articleText checks a required text of at most max characters.
func articleText(field, s string, max int) error {
	switch {
	case s == "":
		return Invalid(field, "is required")
	case !utf8.ValidString(s) || utf8.RuneCountInString(s) > max:
		return Invalid(field, "must be at most %d characters", max)
	case strings.ContainsFunc(s, func(r rune) bool { return r < ' ' && r != '\n' && r != '\t' }):
		return Invalid(field, "must not contain control characters")
	}
	return nil
}

// Offered reports whether the article may be offered at now: published
// and within its validity.
func (a *Article) Offered(now time.Time) bool {
	return a.Status == ArticlePublished && (a.ValidFrom.IsZero() || !now.Before(a.ValidFrom)) &&
		(a.ValidUntil.IsZero() || now.Before(a.ValidUntil))
}

// ArticleStore keeps the knowledge base. Both stores implement it.
type ArticleStore interface {
	// PutArticles writes the articles in one transaction, all or none: an
	// article with an ID is changed; one without is matched by department
	// and question, changed if found, added if not. A changed article
	// gets the next version and the old one is kept; one that would not
	// change is left as it is. IDs, versions and revisions are set on the
	// articles; the count is of those written.
	PutArticles(ctx context.Context, as []*Article) (int, error)
	// Article returns the current version of the article.
	Article(ctx context.Context, id int64) (*Article, error)
	// ArticleVersions returns every version of the article, oldest first.
	ArticleVersions(ctx context.Context, id int64) ([]*Article, error)
	// ArticlesSince returns up to limit articles written after the one at
	// (rev, id), in that order: what a search index has not yet seen.
	ArticlesSince(ctx context.Context, rev, id int64, limit int) ([]*Article, error)
}

// ArticleQuery is what a knowledge-base search looks for besides the
// words.
type ArticleQuery struct {
	Now time.Time // articles out of their validity at Now are not offered
	// Areas are the areas the answer must hold in (the asker's district
	// and street); an article of another area is left out. nil: any
	// article; empty but not nil: city-wide articles only (the asker's
	// place is unknown and the answer goes out unseen by staff).
	Areas []string
	Limit int // at most this many hits; 0 is 5
}

// ArticleHit is an article a search found, with Score how sure it is to
// answer the question, from 0 to 1 (knowledge.Index says how it is made).
type ArticleHit struct {
	ID                         int64
	Version                    int
	Question, Answer           string
	Category, Department, Area string
	Score                      float64
}

// ArticleMiss is a citizen's question the knowledge base did not answer
// well (no article scored MissScore): asked on the FAQ page, or on WeChat.
// Departments read them to write the articles that are missing.
type ArticleMiss struct {
	ID       int64
	At       time.Time
	Source   string  // where it was asked: faq, wechat
	Question string  // the citizen's words, at most MaxArticleQuestion characters
	Article  int64   // the best article found, 0 for none
	Score    float64 // its score
}

// MissScore is the score below which the best article does not answer a
// question (about a third of its terms covered, and on the labelled
// questions wrong more often than not).
const MissScore = 0.3

// Cut trims m's question to MaxArticleQuestion characters and masks the
// numbers in it as phone numbers are masked (MaskPhone): the departments
// read what was asked, not who asked it.
func (m *ArticleMiss) Cut() {
	r := []rune(strings.TrimSpace(m.Question))
	if len(r) > MaxArticleQuestion {
		r = r[:MaxArticleQuestion]
	}
	m.Question = longNumber.ReplaceAllStringFunc(string(r), MaskPhone)
}

// longNumber is a run of digits long enough to be a phone or an ID number.
var longNumber = regexp.MustCompile(`[0-9０-９]{7,}[0-9０-９Xx]*`)

// ArticleFilter selects articles for a listing.
type ArticleFilter struct {
	Department string // "" any
	Limit      int    // at most this many, most recently changed first
}

// ArticleMissStore keeps the questions the knowledge base missed.
type ArticleMissStore interface {
	// AddArticleMiss stores m (its question cut, Cut) and sets its ID.
	AddArticleMiss(ctx context.Context, m *ArticleMiss) error
	// ArticleMisses returns the misses at or after since, latest first.
	ArticleMisses(ctx context.Context, since time.Time, limit int) ([]*ArticleMiss, error)
	// Articles returns the current articles f selects.
	Articles(ctx context.Context, f ArticleFilter) ([]*Article, error)
}
