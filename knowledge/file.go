package knowledge

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yihao-city/yihao/ticketing"
)

// Entry is an article read from a file, with the line it starts on.
type Entry struct {
	Line    int
	Article *ticketing.Article
}

// File is a knowledge-base file: articles, and in YAML the synonym groups
// the analyzer folds.
type File struct {
	Articles []Entry
	Synonyms [][]string
}

// LineError is a file's error at a line.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// csvColumns are the columns a CSV file may have; the first four must be
// in its header.
var csvColumns = []string{"question", "answer", "category", "department", "aliases", "area", "valid_from", "valid_until", "source", "status"}

// ReadCSV reads a CSV file with a header naming its columns (question,
// answer, category, department, and any of aliases — separated by "|" —
// area, valid_from, valid_until — dates, 2006-01-02, in loc — source and
// status). Each article is checked (ticketing.Article.Validate) as
// written by by at now; the first error names its line, and then nothing
// is returned.
func ReadCSV(r io.Reader, by string, now time.Time, loc *time.Location) (*File, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff"))))
	head, err := cr.Read()
	if err != nil {
		return nil, &LineError{1, fmt.Errorf("the header (question,answer,category,department): %w", err)}
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(csvColumns, h) {
			return nil, &LineError{1, fmt.Errorf("unknown column %q (the columns are %s)", h, strings.Join(csvColumns, ", "))}
		}
		if _, dup := col[h]; dup {
			return nil, &LineError{1, fmt.Errorf("column %q twice", h)}
		}
		col[h] = i
	}
	for _, h := range csvColumns[:4] {
		if _, ok := col[h]; !ok {
			return nil, &LineError{1, fmt.Errorf("the header lacks %q", h)}
		}
	}
	f := &File{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			return nil, &LineError{line, err}
		}
		line, _ := cr.FieldPos(0)
		get := func(k string) string {
			if i, ok := col[k]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		e := entry{Question: get("question"), Answer: get("answer"), Category: get("category"), Department: get("department"),
			Area: get("area"), ValidFrom: get("valid_from"), ValidUntil: get("valid_until"), Source: get("source"), Status: get("status")}
		for _, a := range strings.Split(get("aliases"), "|") {
			if a = strings.TrimSpace(a); a != "" {
				e.Aliases = append(e.Aliases, a)
			}
		}
		a, err := e.article(by, now, loc)
		if err != nil {
			return nil, &LineError{line, err}
		}
		f.Articles = append(f.Articles, Entry{line, a})
	}
	if len(f.Articles) == 0 {
		return nil, &LineError{1, errors.New("no articles after the header")}
	}
	return f, nil
}

// entry is an article as a file writes it.
type entry struct {
	Question   string   `yaml:"question"`
	Aliases    []string `yaml:"aliases"`
	Answer     string   `yaml:"answer"`
	Category   string   `yaml:"category"`
	Department string   `yaml:"department"`
	Area       string   `yaml:"area"`
	ValidFrom  string   `yaml:"valid_from"`
	ValidUntil string   `yaml:"valid_until"`
	Source     string   `yaml:"source"`
	Status     string   `yaml:"status"`
}

// article checks e and makes it an article; dates are civil days in loc.
func (e entry) article(by string, now time.Time, loc *time.Location) (*ticketing.Article, error) {
	a := &ticketing.Article{Question: e.Question, Aliases: e.Aliases, Answer: e.Answer, Category: e.Category,
		Department: e.Department, Area: e.Area, Source: e.Source, Status: ticketing.ArticleStatus(e.Status),
		UpdatedBy: by, UpdatedAt: now}
	if a.Status == "" {
		a.Status = ticketing.ArticlePublished
	}
	for _, d := range []struct {
		field, v string
		t        *time.Time
	}{{"valid_from", e.ValidFrom, &a.ValidFrom}, {"valid_until", e.ValidUntil, &a.ValidUntil}} {
		if d.v == "" {
			continue
		}
		t, err := time.ParseInLocation(time.DateOnly, d.v, loc)
		if err != nil {
			return nil, ticketing.Invalid(d.field, "must be a date like 2006-01-02, not %q", d.v)
		}
		if d.field == "valid_until" {
			t = t.AddDate(0, 0, 1) // the whole last day holds
		}
		*d.t = t
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// ReadYAML reads a YAML file:
//
//	synonyms:
//	  - [社保, 社会保险]
//	articles:
//	  - question: 社保关系跨省转移怎么办理？
//	    aliases: [换城市工作了社保怎么转]
//	    answer: …
//	    category: labor
//	    department: rsj
//
// checked as ReadCSV checks; the first error names its line.
func ReadYAML(r io.Reader, by string, now time.Time, loc *time.Location) (*File, error) {
	var doc struct {
		Synonyms [][]string  `yaml:"synonyms"`
		Articles []yaml.Node `yaml:"articles"`
	}
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, err // yaml's errors name their lines
	}
	f := &File{Synonyms: doc.Synonyms}
	for _, n := range doc.Articles {
		if n.Kind != yaml.MappingNode {
			return nil, &LineError{n.Line, errors.New("an article is a mapping (question: …, answer: …)")}
		}
		for i := 0; i < len(n.Content); i += 2 {
			if k := n.Content[i]; !slices.Contains(csvColumns, k.Value) {
				return nil, &LineError{k.Line, fmt.Errorf("unknown field %q (the fields are %s)", k.Value, strings.Join(csvColumns, ", "))}
			}
		}
		var e entry
		if err := n.Decode(&e); err != nil {
			return nil, &LineError{n.Line, err}
		}
		a, err := e.article(by, now, loc)
		if err != nil {
			return nil, &LineError{n.Line, err}
		}
		f.Articles = append(f.Articles, Entry{n.Line, a})
	}
	if len(f.Articles) == 0 && len(f.Synonyms) == 0 {
		return nil, errors.New("no articles and no synonyms")
	}
	return f, nil
}
