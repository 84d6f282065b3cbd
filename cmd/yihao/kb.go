package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/yihao-city/yihao/configs"
	"github.com/yihao-city/yihao/knowledge"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/ticketing"
)

const kbUsage = `usage:
  yihao kb import --in FILE [--by NAME]
  yihao kb search QUESTION

import puts the articles of FILE in the knowledge base: CSV with a header
naming the columns question,answer,category,department (and any of
aliases — separated by | — area, valid_from, valid_until, source, status),
or YAML (articles: [{question, aliases, answer, category, department, …}]).
Every row is checked against the catalogue first; a bad one is named by its
line and nothing is imported. An article with the department and question
of one already stored replaces it as a new version; one unchanged is left
as it is, so importing a file again changes nothing. Articles are
published unless their status says draft.

search prints the articles that best answer QUESTION, as the agents see
them, from the articles stored now.`

// kbCommand manages the knowledge base.
func kbCommand(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("kb: missing command (import or search)\n%s", kbUsage)
	}
	switch args[0] {
	case "import":
		return kbImport(ctx, cfg, args[1:], stdout, stderr)
	case "search":
		return kbSearch(ctx, cfg, args[1:], stdout)
	}
	return fmt.Errorf("unknown kb command %q\n%s", args[0], kbUsage)
}

func kbImport(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("yihao kb import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "the CSV or YAML file of articles")
	by := fs.String("by", "import", "who the articles are written by, for their history")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || fs.NArg() > 0 {
		return fmt.Errorf("kb import: --in FILE is required, and nothing else\n%s", kbUsage)
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		return fmt.Errorf("kb import: %w", err)
	}
	router, cat, err := loadRouting(routingFilesOf(cfg))
	if err != nil {
		return err
	}
	f, err := readKnowledge(*in, b, *by, cat, router)
	if err != nil {
		return fmt.Errorf("kb import: %s: %w", *in, err)
	}
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	as := make([]*ticketing.Article, len(f.Articles))
	for i, e := range f.Articles {
		as[i] = e.Article
	}
	n, err := store.PutArticles(ctx, as)
	if err != nil {
		return fmt.Errorf("kb import: %w", err)
	}
	fmt.Fprintf(stdout, "%d articles read, %d new or changed, %d unchanged\n", len(as), n, len(as)-n)
	return nil
}

// readKnowledge reads a file of articles (its format by its name: .csv,
// else YAML) and checks each against the catalogue: its department and
// category exist, its area is one of the organisation's.
func readKnowledge(name string, b []byte, by string, cat *routing.Catalogue, router interface{ Org() *routing.Org }) (*knowledge.File, error) {
	loc, err := cat.Location()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var f *knowledge.File
	if strings.EqualFold(filepath.Ext(name), ".csv") {
		f, err = knowledge.ReadCSV(bytes.NewReader(b), by, now, loc)
	} else {
		f, err = knowledge.ReadYAML(bytes.NewReader(b), by, now, loc)
	}
	if err != nil {
		return nil, err
	}
	if len(f.Synonyms) > 0 {
		return nil, errors.New("synonyms are read at start from the kb_synonyms file, not imported")
	}
	depts, cats := map[string]bool{}, map[string]bool{}
	for _, d := range cat.Departments {
		depts[d.Code] = true
	}
	var walk func([]routing.Category)
	walk = func(cs []routing.Category) {
		for _, c := range cs {
			cats[c.Code] = true
			walk(c.Children)
		}
	}
	walk(cat.Categories)
	for _, e := range f.Articles {
		a := e.Article
		switch _, inArea := router.Org().Area(a.Area); {
		case !depts[a.Department]:
			return nil, &knowledge.LineError{Line: e.Line, Err: ticketing.Invalid("department", "%q is not a department of the catalogue", a.Department)}
		case a.Category != "" && !cats[a.Category]:
			return nil, &knowledge.LineError{Line: e.Line, Err: ticketing.Invalid("category", "%q is not a category of the catalogue", a.Category)}
		case a.Area != "" && !inArea:
			return nil, &knowledge.LineError{Line: e.Line, Err: ticketing.Invalid("area", "%q is not a district, street or community of the catalogue", a.Area)}
		}
	}
	return f, nil
}

// newAnalyzer makes the search's analyzer with the configured synonyms
// (the demo city's by default).
func newAnalyzer(cfg Config) (*knowledge.Analyzer, error) {
	b, err := read(cfg.KnowledgeSynonyms, configs.DemoSynonyms)
	if err != nil {
		return nil, err
	}
	f, err := knowledge.ReadYAML(bytes.NewReader(b), "", time.Now(), time.UTC)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nameOf(cfg.KnowledgeSynonyms, "demo synonyms"), err)
	}
	return knowledge.NewAnalyzer(f.Synonyms)
}

// openKnowledge opens the search's index in the data directory; with
// fill, it is filled from the store before it returns (the server fills
// it in the background instead, as it follows the store: a big base must
// not hold up the start, and searches before it is filled are refused).
func openKnowledge(ctx context.Context, cfg Config, store ticketing.Store, fill bool) (*knowledge.Index, error) {
	an, err := newAnalyzer(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, err
	}
	ix, err := knowledge.Open(cfg.DataDir, an)
	if err != nil {
		return nil, err
	}
	if !fill {
		return ix, nil
	}
	if _, err := ix.Sync(ctx, store); err != nil {
		_ = ix.Close()
		return nil, fmt.Errorf("knowledge: first sync: %w", err)
	}
	return ix, nil
}

// seedKnowledge puts the configured articles (kb_seed: a file, or "demo")
// in a store that has none, so the demo answers questions from its start.
func seedKnowledge(ctx context.Context, cfg Config, store ticketing.Store, cat *routing.Catalogue, router interface{ Org() *routing.Org }, log *slog.Logger) error {
	if cfg.KnowledgeSeed == "" {
		return nil
	}
	if as, err := store.ArticlesSince(ctx, 0, 0, 1); err != nil || len(as) > 0 {
		return err
	}
	name, b := cfg.KnowledgeSeed, configs.DemoKnowledge
	if name != "demo" {
		var err error
		if b, err = os.ReadFile(name); err != nil {
			return err
		}
	} else {
		name = "demo.yaml"
	}
	f, err := readKnowledge(name, b, "seed", cat, router)
	if err != nil {
		return fmt.Errorf("config: kb_seed %s: %w", cfg.KnowledgeSeed, err)
	}
	as := make([]*ticketing.Article, len(f.Articles))
	for i, e := range f.Articles {
		as[i] = e.Article
	}
	n, err := store.PutArticles(ctx, as)
	if err != nil {
		return err
	}
	log.Info("knowledge base seeded", "articles", n)
	return nil
}

func kbSearch(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	q := strings.TrimSpace(strings.Join(args, " "))
	if q == "" {
		return fmt.Errorf("kb search: a question is required\n%s", kbUsage)
	}
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	ix, err := openKnowledge(ctx, Config{DataDir: os.TempDir(), KnowledgeSynonyms: cfg.KnowledgeSynonyms}, store, true)
	if err != nil {
		return err
	}
	defer func() { _ = ix.Close() }()
	hits, err := ix.Search(ctx, q, ticketing.ArticleQuery{Limit: 5})
	if err != nil {
		return err
	}
	if len(hits) == 0 {
		fmt.Fprintln(stdout, "no article answers this")
	}
	for _, h := range hits {
		fmt.Fprintf(stdout, "%.2f  #%d %s（%s）\n      %s\n", h.Score, h.ID, h.Question, h.Department, h.Answer)
	}
	return nil
}
