package knowledge

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the index's engine: SQLite with FTS5

	"github.com/yihao-city/yihao/ticketing"
)

// Source is where the index takes its articles from: the store.
type Source interface {
	// ArticlesSince returns up to limit articles written after (rev, id),
	// in that order (ticketing.ArticleStore).
	ArticlesSince(ctx context.Context, rev, id int64, limit int) ([]*ticketing.Article, error)
}

// Index holds the published articles' terms in an SQLite file of its own
// and follows a Source by revision. It is safe for concurrent use: many
// searches, one sync at a time.
type Index struct {
	an   *Analyzer
	db   *sql.DB
	path string

	mu      sync.Mutex  // one sync at a time; guards rev and id
	rev, id int64       // the last article synced
	ready   atomic.Bool // the first sync has finished

	// vocab is how many articles each term occurs in, read whole after
	// each sync that wrote: fts5vocab answers a lookup by scanning (1.5 ms
	// for three terms of 20,000 articles), and that lookup was a fifth of
	// a WeChat push's CPU. A term takes some 60 bytes.
	vocab atomic.Pointer[vocab]
	// stale says the index was written since vocab was read (guarded by mu).
	stale bool
}

// vocab is a snapshot of the index's term counts and its article count.
type vocab struct {
	df   map[string]int
	docs int
}

// The index's schema. articles keeps what a hit shows and what a search
// filters on (validity, area); terms keeps the terms for FTS5: q the
// question's and other phrasings' words, p their sounds, a the answer's
// words. Each article's row id is its id. vocab counts the articles each
// term occurs in, for the weight of a question's terms.
const schema = `
CREATE TABLE articles (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, question TEXT NOT NULL,
	questions TEXT NOT NULL, answer TEXT NOT NULL, category TEXT NOT NULL, department TEXT NOT NULL,
	area TEXT NOT NULL, valid_from INTEGER, valid_until INTEGER);
CREATE VIRTUAL TABLE terms USING fts5(q, p, a, tokenize = 'unicode61 remove_diacritics 0', detail = 'column');
CREATE VIRTUAL TABLE vocab USING fts5vocab(terms, 'row');`

// Open makes an empty index in a new file in dir (the system's temporary
// directory when empty); Close removes it. It fills as Sync or Follow
// bring the articles.
func Open(dir string, an *Analyzer) (*Index, error) {
	f, err := os.CreateTemp(dir, "yihao-kb-*.sqlite")
	if err != nil {
		return nil, fmt.Errorf("knowledge: index file: %w", err)
	}
	path := f.Name()
	_ = f.Close()
	q := url.Values{}
	// A copy of the store's articles, made again at each start: nothing
	// in it needs to survive a crash, so it is never synced to disk.
	// Its cache is small: SQLite's page pool is shared with the ticket
	// store's connections, which a large share here would only let grow
	// (ticketing/sqlite's writerCache), and the index is small.
	for _, p := range []string{"journal_mode(WAL)", "synchronous(OFF)", "busy_timeout(5000)", "cache_size(-500)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("knowledge: index: %w", err)
	}
	ix := &Index{an: an, db: db, path: path}
	if _, err := db.Exec(schema); err != nil {
		_ = ix.Close()
		return nil, fmt.Errorf("knowledge: index schema: %w", err)
	}
	return ix, nil
}

// Close closes the index and removes its file.
func (ix *Index) Close() error {
	err := ix.db.Close()
	for _, p := range []string{ix.path, ix.path + "-wal", ix.path + "-shm"} {
		if e := os.Remove(p); e != nil && !errors.Is(e, os.ErrNotExist) && err == nil {
			err = e
		}
	}
	return err
}

// Ready reports whether the first sync has finished: before it, searches
// are refused rather than answered from half the articles.
func (ix *Index) Ready() bool { return ix.ready.Load() }

// Len is how many articles the index holds (published ones, valid or not).
func (ix *Index) Len() int {
	if v := ix.vocab.Load(); v != nil {
		return v.docs
	}
	return 0
}

// syncBatch is how many articles one step of a sync reads and writes.
const syncBatch = 1000

// Sync brings in every article written since the last sync: a published
// one is indexed (again), any other taken out. It returns how many it
// read.
func (ix *Index) Sync(ctx context.Context, src Source) (int, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	total, err := ix.pull(ctx, src)
	if total > 0 {
		ix.stale = true // also when a later batch failed: those before it are in
	}
	if ix.stale || ix.vocab.Load() == nil {
		if verr := ix.readVocab(ctx); verr != nil {
			err = cmp.Or(err, verr)
		} else {
			ix.stale = false
		}
	}
	if err != nil {
		return total, err
	}
	ix.ready.Store(true)
	return total, nil
}

// pull indexes the articles written since the last sync, a batch at a
// time, and says how many it read.
func (ix *Index) pull(ctx context.Context, src Source) (int, error) {
	total := 0
	for {
		as, err := src.ArticlesSince(ctx, ix.rev, ix.id, syncBatch)
		if err != nil || len(as) == 0 {
			return total, err
		}
		if err := ix.write(ctx, as); err != nil {
			return total, err
		}
		total += len(as)
		last := as[len(as)-1]
		ix.rev, ix.id = last.Rev, last.ID
	}
}

// write indexes a batch in one transaction.
func (ix *Index) write(ctx context.Context, as []*ticketing.Article) error {
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // after Commit a no-op
	for _, a := range as {
		for _, q := range []string{`DELETE FROM terms WHERE rowid = ?`, `DELETE FROM articles WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, q, a.ID); err != nil {
				return err
			}
		}
		if a.Status != ticketing.ArticlePublished {
			continue
		}
		questions := strings.Join(append([]string{a.Question}, a.Aliases...), "\n")
		qt, at := ix.an.Analyze(questions), ix.an.Analyze(a.Answer)
		if _, err := tx.ExecContext(ctx, `INSERT INTO terms (rowid, q, p, a) VALUES (?, ?, ?, ?)`, a.ID,
			strings.Join(qt.Words(), " "), strings.Join(qt.Sounds(), " "), strings.Join(at.Words(), " ")); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.Version,
			a.Question, questions, a.Answer, a.Category, a.Department, a.Area, micros(a.ValidFrom), micros(a.ValidUntil)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// Follow syncs at once and then every period until ctx ends, logging what
// fails (a failed sync is tried again at the next tick; what it missed
// comes then).
func (ix *Index) Follow(ctx context.Context, src Source, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := ix.Sync(ctx, src); err != nil && ctx.Err() == nil {
			log.Warn("knowledge: index sync failed; trying again", "err", err)
		} else if n > 0 {
			log.Info("knowledge: articles indexed", "articles", n, "indexed", ix.Len())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// hit is an article found: what a search answers (ticketing.ArticleHit),
// its BM25 rank and its phrasings, which make its Score: how sure it is
// to answer the question, the share of the question's terms (each
// weighted by how rare it is among the articles) that the article's own
// question or other phrasings contain, by word or by sound; 1 is all of
// them. Hits come in BM25's order, which is not always the score's.
type hit struct {
	ticketing.ArticleHit
	rank      float64 // BM25 of FTS5: lower is better
	questions string
}

// Tuning of the search, measured on the labelled questions
// (knowledge/testdata/asked.csv; BENCHMARKS.md).
const (
	// commonShare: a term in more than this share of the articles does not
	// select candidates (it would bring most of the base to be ranked);
	// it still weighs in the score.
	commonShare = 0.05
	maxMatch    = 32  // terms that select candidates, the rarest first
	soundCredit = 0.9 // a term matched by its sound alone (a homophone)
)

// BM25's weights of the columns: the question and its phrasings, their
// sounds, the answer.
const bm25 = `bm25(terms, 4.0, 2.0, 1.0)`

// Search finds the articles that best answer q, best first (BM25).
func (ix *Index) Search(ctx context.Context, q string, o ticketing.ArticleQuery) ([]ticketing.ArticleHit, error) {
	if !ix.Ready() {
		return nil, ticketing.Unavailable(errors.New("the knowledge base is still loading"))
	}
	limit := cmp.Or(o.Limit, 5)
	terms := ix.an.Analyze(q)
	if len(terms) == 0 {
		return []ticketing.ArticleHit{}, nil
	}
	v := ix.vocab.Load() // the counts and the article count of one sync
	df := v.frequencies(terms)
	n := float64(v.docs)
	idf := func(t string) float64 {
		d := float64(df[t])
		return math.Log(1 + (n-d+0.5)/(d+0.5))
	}
	// The rarest terms the base knows select the candidates.
	var known []string
	for t, d := range df {
		if d > 0 {
			known = append(known, t)
		}
	}
	if len(known) == 0 {
		return []ticketing.ArticleHit{}, nil
	}
	slices.SortFunc(known, func(a, b string) int { return cmp.Or(cmp.Compare(df[a], df[b]), strings.Compare(a, b)) })
	match := known[:0:0]
	for _, t := range known {
		if len(match) >= maxMatch || (float64(df[t]) > commonShare*n && len(match) >= 3) {
			break
		}
		match = append(match, `"`+strings.ReplaceAll(t, `"`, `""`)+`"`)
	}
	w := []string{`terms MATCH ?`, `(a.valid_from IS NULL OR a.valid_from <= ?)`, `(a.valid_until IS NULL OR a.valid_until > ?)`}
	now := cmp.Or(o.Now, time.Now()).UnixMicro()
	args := []any{strings.Join(match, " OR "), now, now}
	switch {
	case len(o.Areas) > 0:
		w = append(w, `(a.area = '' OR a.area IN (`+strings.Repeat(",?", len(o.Areas))[1:]+`))`)
		for _, x := range o.Areas {
			args = append(args, x)
		}
	case o.Areas != nil:
		w = append(w, `a.area = ''`)
	}
	rows, err := ix.db.QueryContext(ctx, `SELECT a.id, a.version, a.question, a.questions, a.answer, a.category, a.department, a.area, `+bm25+`
		FROM terms JOIN articles a ON a.id = terms.rowid WHERE `+strings.Join(w, " AND ")+` ORDER BY 9 LIMIT `+fmt.Sprint(limit), args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var hits []hit
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.ID, &h.Version, &h.Question, &h.questions, &h.Answer, &h.Category, &h.Department, &h.Area, &h.rank); err != nil {
			return nil, err
		}
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The order is BM25's (over the question, its sounds and the answer):
	// on the labelled questions it puts the right article first more often
	// than ordering by the score below. The score says how sure the first
	// is, which BM25 cannot (it has no scale): how much of the question the
	// article's own phrasings cover, a term counted once, by its word or
	// failing that its sound.
	seen := map[string]bool{}
	var total float64
	var asked []Term
	for _, t := range terms {
		if !seen[t.Word] {
			seen[t.Word] = true
			asked = append(asked, t)
			total += idf(t.Word)
		}
	}
	for i := range hits {
		own := ix.an.Analyze(hits[i].questions)
		words, sounds := map[string]bool{}, map[string]bool{}
		for _, t := range own {
			words[t.Word] = true
			if t.Sound != "" {
				sounds[t.Sound] = true
			}
		}
		var got float64
		for _, t := range asked {
			switch {
			case words[t.Word]:
				got += idf(t.Word)
			case t.Sound != "" && sounds[t.Sound]:
				got += soundCredit * idf(t.Word)
			}
		}
		hits[i].Score = got / total
	}
	out := make([]ticketing.ArticleHit, len(hits))
	for i, h := range hits {
		out[i] = h.ArticleHit
	}
	return out, nil
}

// frequencies counts the articles each of the terms' words and sounds
// occurs in (0 for one the base does not know).
func (v *vocab) frequencies(terms Terms) map[string]int {
	df := map[string]int{}
	for _, t := range terms {
		for _, x := range []string{t.Word, t.Sound} {
			if x != "" {
				df[x] = v.df[x]
			}
		}
	}
	return df
}

// readVocab reads the article count of every term the index holds, and
// how many articles it holds.
func (ix *Index) readVocab(ctx context.Context) error {
	v := &vocab{df: map[string]int{}}
	if err := ix.db.QueryRowContext(ctx, `SELECT count(*) FROM articles`).Scan(&v.docs); err != nil {
		return err
	}
	rows, err := ix.db.QueryContext(ctx, `SELECT term, doc FROM vocab`)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var t string
		var d int
		if err := rows.Scan(&t, &d); err != nil {
			return err
		}
		v.df[t] = d
	}
	if err := rows.Err(); err != nil {
		return err
	}
	ix.vocab.Store(v)
	return nil
}
