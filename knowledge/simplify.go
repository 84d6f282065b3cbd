package knowledge

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/longbridgeapp/opencc"
)

// simplifier is OpenCC's traditional-to-simplified conversion on OpenCC's
// own tables, with one shortcut: a character that begins no entry of a
// table is copied as it is, without a look-up. OpenCC looks every
// character up (building strings and a map for each), which was two thirds
// of a question's analysis, while most characters citizens write begin no
// entry. The result is OpenCC's, character for character
// (TestSimplifierAgreesWithOpenCC): at each character the first table of
// the group with an entry there gives its longest, a character no entry
// begins at is kept, and invalid UTF-8 becomes U+FFFD. With one exception:
// OpenCC's trie takes a byte 0x01 for the start of every one-character
// entry ("\x01國" comes back "国国"); here a 0x01 is kept as it is.
type simplifier struct {
	groups []simplifierGroup
}

type simplifierGroup struct {
	g      *opencc.Group
	starts map[rune]bool // the first character of every entry of every table of g
}

// lookahead is how many characters OpenCC offers a table at once, so the
// longest entry it can match.
const lookahead = 10

func newSimplifier() (*simplifier, error) {
	cc, err := opencc.New("t2s")
	if err != nil {
		return nil, fmt.Errorf("knowledge: traditional to simplified tables: %w", err)
	}
	s := &simplifier{}
	for _, g := range cc.DictChains {
		sg := simplifierGroup{g: g, starts: map[rune]bool{}}
		for _, d := range g.Dicts {
			if d.Trie == nil {
				return nil, fmt.Errorf("knowledge: an OpenCC table of %v has no entries", g)
			}
			for _, id := range d.Trie.PrefixPredict(nil, 0) {
				key, err := d.Trie.Key(id)
				if err != nil {
					return nil, fmt.Errorf("knowledge: OpenCC table of %v: %w", g, err)
				}
				r, _ := utf8.DecodeRune(key)
				sg.starts[r] = true
			}
		}
		s.groups = append(s.groups, sg)
	}
	return s, nil
}

// convert is OpenCC's Convert.
func (s *simplifier) convert(in string) (string, error) {
	if !utf8.ValidString(in) {
		in = string([]rune(in)) // as OpenCC reads it, even where nothing changes
	}
	for _, sg := range s.groups {
		if !strings.ContainsFunc(in, func(r rune) bool { return sg.starts[r] }) {
			continue // nothing for this group to change
		}
		r := []rune(in)
		var b strings.Builder
		b.Grow(len(in))
		for i := 0; i < len(r); {
			n, out, err := sg.match(r[i:min(len(r), i+lookahead)])
			if err != nil {
				return "", err
			}
			if n == 0 {
				b.WriteRune(r[i])
				i++
				continue
			}
			b.WriteString(out)
			i += n
		}
		in = b.String()
	}
	return in, nil
}

// match returns how many characters at the start of r an entry of the
// group replaces, and with what; 0 when none begins there.
func (sg simplifierGroup) match(r []rune) (int, string, error) {
	if !sg.starts[r[0]] {
		return 0, "", nil
	}
	for _, d := range sg.g.Dicts {
		found, err := d.PrefixMatch(string(r))
		if err != nil {
			return 0, "", err
		}
		key, out := "", ""
		for k, v := range found {
			if len(k) > len(key) && len(v) > 0 {
				key, out = k, v[0]
			}
		}
		if key != "" {
			return utf8.RuneCountInString(key), out, nil
		}
	}
	return 0, "", nil
}
