package sqlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// The knowledge base (migration 00025 of both stores).

// articleFields are an article's columns after its id; ArticleColumns
// adds the id, and kb_article_versions lays out the same ones.
const articleFields = `rev, version, question, aliases, answer, category, department, area,
	valid_from, valid_until, source, status, updated_by, created_at, updated_at`

// ArticleColumns are what ScanArticle reads.
const ArticleColumns = `id, ` + articleFields

// ScanArticle scans ArticleColumns.
func ScanArticle[T, N any](d Dialect[T, N], r Scanner) (*ticketing.Article, error) {
	var (
		a                ticketing.Article
		aliases, status  string
		from, until      N
		created, updated T
	)
	if err := r.Scan(&a.ID, &a.Rev, &a.Version, &a.Question, &aliases, &a.Answer, &a.Category, &a.Department, &a.Area,
		&from, &until, &a.Source, &status, &a.UpdatedBy, &created, &updated); err != nil {
		return nil, d.Translate(err)
	}
	if err := json.Unmarshal([]byte(aliases), &a.Aliases); err != nil {
		return nil, fmt.Errorf("aliases of article %d: %w", a.ID, err)
	}
	if len(a.Aliases) == 0 {
		a.Aliases = nil
	}
	a.Status = ticketing.ArticleStatus(status)
	a.ValidFrom, a.ValidUntil = d.NullAt(from), d.NullAt(until)
	a.CreatedAt, a.UpdatedAt = d.At(created), d.At(updated)
	return &a, nil
}

// sameArticle reports whether b says what a says: the same texts, codes,
// validity, source and status (who wrote it and when aside).
func sameArticle(a, b *ticketing.Article) bool {
	return a.Question == b.Question && slices.Equal(a.Aliases, b.Aliases) && a.Answer == b.Answer &&
		a.Category == b.Category && a.Department == b.Department && a.Area == b.Area &&
		a.ValidFrom.Equal(b.ValidFrom) && a.ValidUntil.Equal(b.ValidUntil) && a.Source == b.Source && a.Status == b.Status
}

// PutArticles is ticketing.ArticleStore.PutArticles on tx, a transaction
// in which the caller holds the knowledge base's write lock (so revisions
// are committed in the order they are taken: an index following the
// store never skips one).
func PutArticles[T, N any](ctx context.Context, tx DB, d Dialect[T, N], as []*ticketing.Article) (int, error) {
	for _, a := range as {
		if err := a.Validate(); err != nil {
			return 0, err
		}
	}
	var rev int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(rev), 0) + 1 FROM kb_articles`).Scan(&rev); err != nil {
		return 0, d.Translate(err)
	}
	written := 0
	for _, a := range as {
		var (
			cur *ticketing.Article
			err error
		)
		if a.ID > 0 {
			cur, err = ScanArticle(d, tx.QueryRow(ctx, d.Rebind(`SELECT `+ArticleColumns+` FROM kb_articles WHERE id = ?`), a.ID))
		} else {
			cur, err = ScanArticle(d, tx.QueryRow(ctx, d.Rebind(`SELECT `+ArticleColumns+` FROM kb_articles WHERE department = ? AND question = ?`),
				a.Department, a.Question))
			if errors.Is(err, ticketing.ErrNotFound) {
				cur, err = nil, nil
			}
		}
		if err != nil {
			return 0, err
		}
		if cur != nil && sameArticle(a, cur) {
			a.ID, a.Version, a.Rev, a.CreatedAt, a.UpdatedAt, a.UpdatedBy = cur.ID, cur.Version, cur.Rev, cur.CreatedAt, cur.UpdatedAt, cur.UpdatedBy
			continue
		}
		a.Rev, a.Version, a.CreatedAt = rev, 1, a.UpdatedAt
		if cur != nil {
			a.ID, a.Version, a.CreatedAt = cur.ID, cur.Version+1, cur.CreatedAt
		}
		aliases := a.Aliases
		if aliases == nil {
			aliases = []string{}
		}
		js, err := json.Marshal(aliases)
		if err != nil {
			return 0, err
		}
		args := []any{a.Rev, a.Version, a.Question, string(js), a.Answer, a.Category, a.Department, a.Area,
			d.NullTime(a.ValidFrom), d.NullTime(a.ValidUntil), a.Source, string(a.Status), a.UpdatedBy, d.Time(a.CreatedAt), d.Time(a.UpdatedAt)}
		if cur == nil {
			err = tx.QueryRow(ctx, d.Rebind(`INSERT INTO kb_articles (`+articleFields+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), args...).Scan(&a.ID)
		} else {
			err = tx.QueryRow(ctx, d.Rebind(`UPDATE kb_articles SET rev = ?, version = ?, question = ?, aliases = ?, answer = ?,
				category = ?, department = ?, area = ?, valid_from = ?, valid_until = ?, source = ?, status = ?,
				updated_by = ?, created_at = ?, updated_at = ? WHERE id = ? RETURNING id`), append(args, a.ID)...).Scan(&a.ID)
		}
		if err != nil {
			return 0, d.Translate(err)
		}
		if err := tx.QueryRow(ctx, d.Rebind(`INSERT INTO kb_article_versions (article_id, `+articleFields+`)
			SELECT `+ArticleColumns+` FROM kb_articles WHERE id = ? RETURNING version`), a.ID).Scan(&a.Version); err != nil {
			return 0, d.Translate(err)
		}
		written++
	}
	return written, nil
}

// Article reads the current version of an article.
func (r Reader[T, N]) Article(ctx context.Context, id int64) (*ticketing.Article, error) {
	return ScanArticle(r.D, r.DB.QueryRow(ctx, r.D.Rebind(`SELECT `+ArticleColumns+` FROM kb_articles WHERE id = ?`), id))
}

// ArticleVersions reads every version of an article, oldest first.
func (r Reader[T, N]) ArticleVersions(ctx context.Context, id int64) ([]*ticketing.Article, error) {
	rows, err := r.DB.Query(ctx, r.D.Rebind(`SELECT article_id, `+articleFields+` FROM kb_article_versions
		WHERE article_id = ? ORDER BY version`), id)
	if err != nil {
		return nil, r.D.Translate(err)
	}
	defer func() { _ = rows.Close() }()
	vs, err := Collect(rows, r.D.Translate, func(s Scanner) (*ticketing.Article, error) { return ScanArticle(r.D, s) })
	if err == nil && len(vs) == 0 {
		return nil, ticketing.ErrNotFound
	}
	return vs, err
}

// ArticlesSince reads up to limit articles written after (rev, id).
func (r Reader[T, N]) ArticlesSince(ctx context.Context, rev, id int64, limit int) ([]*ticketing.Article, error) {
	rows, err := r.DB.Query(ctx, r.D.Rebind(`SELECT `+ArticleColumns+` FROM kb_articles
		WHERE (rev, id) > (?, ?) ORDER BY rev, id LIMIT ?`), rev, id, limit)
	if err != nil {
		return nil, r.D.Translate(err)
	}
	defer func() { _ = rows.Close() }()
	return Collect(rows, r.D.Translate, func(s Scanner) (*ticketing.Article, error) { return ScanArticle(r.D, s) })
}

// AddArticleMiss stores a miss and sets its ID.
func (w Writer[T, N]) AddArticleMiss(ctx context.Context, m *ticketing.ArticleMiss) error {
	m.Cut()
	if m.Question == "" {
		return ticketing.Invalid("question", "is required")
	}
	return w.D.Translate(w.DB.QueryRow(ctx, w.D.Rebind(`INSERT INTO kb_misses (at, source, question, article, score)
		VALUES (?, ?, ?, ?, ?) RETURNING id`), w.D.Time(m.At), m.Source, m.Question, m.Article, m.Score).Scan(&m.ID))
}

// ArticleMisses reads the misses at or after since, latest first.
func (r Reader[T, N]) ArticleMisses(ctx context.Context, since time.Time, limit int) ([]*ticketing.ArticleMiss, error) {
	rows, err := r.DB.Query(ctx, r.D.Rebind(`SELECT id, at, source, question, article, score FROM kb_misses
		WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?`), r.D.Time(since), limit)
	if err != nil {
		return nil, r.D.Translate(err)
	}
	defer func() { _ = rows.Close() }()
	return Collect(rows, r.D.Translate, func(s Scanner) (*ticketing.ArticleMiss, error) {
		var (
			m  ticketing.ArticleMiss
			at T
		)
		if err := s.Scan(&m.ID, &at, &m.Source, &m.Question, &m.Article, &m.Score); err != nil {
			return nil, r.D.Translate(err)
		}
		m.At = r.D.At(at)
		return &m, nil
	})
}

// Articles reads the current articles f selects, latest changed first.
func (r Reader[T, N]) Articles(ctx context.Context, f ticketing.ArticleFilter) ([]*ticketing.Article, error) {
	w := r.D.Where()
	if f.Department != "" {
		w.Add("department = ?", f.Department)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 500
	}
	return collect(r, ctx, w, `SELECT `+ArticleColumns+` FROM kb_articles`+w.String()+` ORDER BY rev DESC, id DESC LIMIT `+w.Param(limit),
		func(s Scanner) (*ticketing.Article, error) { return ScanArticle(r.D, s) })
}
