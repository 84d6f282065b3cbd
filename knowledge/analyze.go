// Package knowledge is the knowledge base's search (知识库检索): the terms
// Chinese questions are matched by, an index of the published articles
// that follows the store, and the ranking of what it finds.
//
// Chinese is written without spaces, asked in simplified and traditional
// characters, in many words for one thing, and on the phone through speech
// recognition that writes a homophone for the right character (设保 for
// 社保). So a text is matched by three kinds of term, made the same way
// from the articles and from the question:
//   - character bigrams (the standard way to index CJK text without a word
//     dictionary: 社保转移 → 社保 保转 转移), after folding widths, case,
//     traditional to simplified characters (OpenCC's t2s tables) and the
//     city's synonyms (社会保险 → 社保);
//   - bigrams of the characters' pinyin (github.com/mozillazg/go-pinyin),
//     with the sounds people and recognisers confuse folded together
//     (zh/z, ch/c, sh/s, -ng/-n, l/n), which catch the homophones;
//   - Latin words and numbers as they are (ETC, 12345).
//
// The terms are kept and ranked by SQLite's FTS5 (BM25, per-column
// weights) in a file of each instance's own, which follows the store's
// articles by their revisions: one ranking whatever the store, and the
// memory of the operating system's page cache rather than of the process.
package knowledge

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"

	pinyin "github.com/mozillazg/go-pinyin"
	"golang.org/x/text/width"
)

// Analyzer turns a text into the terms the index matches. It is safe for
// concurrent use.
type Analyzer struct {
	t2s      *simplifier
	synonyms *strings.Replacer // each variant to its group's first word
	py       pinyin.Args
	stop     *strings.Replacer // each of stopWords to a space
	// sounds caches each character's folded reading: go-pinyin reads a
	// text one character at a time, and a reading costs it a split and a
	// regular expression, a twentieth of a WeChat push's CPU uncached. At
	// most one entry per Han character there is (under 100,000).
	sounds sync.Map // rune -> string, "" for none
}

// NewAnalyzer makes an analyzer; each group of synonyms is written as its
// first word wherever any of them appears (the groups in simplified
// characters).
func NewAnalyzer(synonyms [][]string) (*Analyzer, error) {
	t2s, err := newSimplifier()
	if err != nil {
		return nil, err
	}
	type pair struct{ from, to string }
	var pairs []pair
	for _, g := range synonyms {
		if len(g) < 2 {
			return nil, fmt.Errorf("knowledge: a synonym group needs two words or more: %q", g)
		}
		for _, w := range g[1:] {
			if w == "" || w == g[0] {
				return nil, fmt.Errorf("knowledge: synonym group %q: empty or repeated word", g)
			}
			pairs = append(pairs, pair{w, g[0]})
		}
	}
	// Longer variants first: the replacer takes the first that matches.
	slices.SortStableFunc(pairs, func(a, b pair) int { return cmp.Compare(len(b.from), len(a.from)) })
	var args []string
	for _, p := range pairs {
		args = append(args, p.from, p.to)
	}
	stops := strings.Fields(stopWords)
	slices.SortStableFunc(stops, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	var breaks []string
	for _, w := range stops {
		breaks = append(breaks, w, " ")
	}
	a := &Analyzer{t2s: t2s, synonyms: strings.NewReplacer(args...), py: pinyin.NewArgs(), stop: strings.NewReplacer(breaks...)}
	a.py.Fallback = func(rune, pinyin.Args) []string { return []string{""} }
	return a, nil
}

// Normalize folds s: full-width to half-width, lower case, traditional to
// simplified characters, synonyms to their group's word.
func (a *Analyzer) Normalize(s string) string {
	s = strings.ToLower(width.Fold.String(s))
	if t, err := a.t2s.convert(s); err == nil {
		s = t
	}
	return a.synonyms.Replace(s)
}

// Term is one unit of a text: a character bigram with its folded pinyin
// (Sound), or a lone character, Latin word or number (no Sound).
type Term struct {
	Word, Sound string
}

// Terms are a text's terms in the order they occur, repeats kept (term
// frequency counts).
type Terms []Term

// Words are the terms' words.
func (t Terms) Words() []string {
	out := make([]string, len(t))
	for i, x := range t {
		out[i] = x.Word
	}
	return out
}

// Sounds are the terms' sounds, where they have one.
func (t Terms) Sounds() []string {
	var out []string
	for _, x := range t {
		if x.Sound != "" {
			out = append(out, x.Sound)
		}
	}
	return out
}

// stopWords are the words of how a question is asked rather than what it
// is about: they match every article and tell none apart. Each is a break
// in the text, so no bigram spans one either (请问社保怎么转移 is 社保, 转移).
const stopWords = `请问 问一 一下 问下 怎么 怎样 么样 么办 如何 什么 哪里 哪儿 哪个 我想 想问 想了 了解 咨询 可以 能否 能不
	不能 需要 是否 是不 不是 我们 你们 您好 你好 这个 那个 一个 的话 现在 时候 知道 问题 有没 没有 吗 呢 啊 吧 的 了
	咋 啥 嘛 呀 哦 喂`

// Analyze returns the terms of s.
func (a *Analyzer) Analyze(s string) Terms {
	var t Terms
	s = a.stop.Replace(a.Normalize(s))
	var han []rune
	flushHan := func() {
		defer func() { han = han[:0] }()
		if len(han) == 0 {
			return
		}
		if len(han) == 1 {
			t = append(t, Term{Word: string(han)})
			return
		}
		prev := a.sound(han[0])
		for i := 0; i+1 < len(han); i++ {
			x := Term{Word: string(han[i : i+2])}
			next := a.sound(han[i+1])
			if prev != "" && next != "" {
				x.Sound = prev + next
			}
			t = append(t, x)
			prev = next
		}
	}
	var word []rune
	flushWord := func() {
		if len(word) > 0 {
			t = append(t, Term{Word: string(word)})
			word = word[:0]
		}
	}
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r):
			flushWord()
			han = append(han, r)
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			flushHan()
			word = append(word, r)
		default:
			flushHan()
			flushWord()
		}
	}
	flushHan()
	flushWord()
	return t
}

// sound is r's folded reading, "" when it has none.
func (a *Analyzer) sound(r rune) string {
	if v, ok := a.sounds.Load(r); ok {
		return v.(string)
	}
	s := ""
	if py := pinyin.SinglePinyin(r, a.py); len(py) > 0 && py[0] != "" {
		s = fold(py[0])
	}
	a.sounds.Store(r, s)
	return s
}

// fold writes a syllable the way it sounds to an ear (or a recogniser)
// that does not tell retroflex from flat initials, front from back nasal
// finals, or n from l: zhang, zang, zan are one.
func fold(s string) string {
	for _, p := range [][2]string{{"zh", "z"}, {"ch", "c"}, {"sh", "s"}} {
		if strings.HasPrefix(s, p[0]) {
			s = p[1] + s[len(p[0]):]
		}
	}
	if strings.HasPrefix(s, "l") {
		s = "n" + s[1:]
	}
	if strings.HasSuffix(s, "ng") {
		s = s[:len(s)-1]
	}
	return s
}
