package knowledge

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/longbridgeapp/opencc"
)

// The shortcut changes nothing: on every entry of OpenCC's tables (alone,
// inside a sentence, run together), on the demo knowledge base, on the
// labelled questions and on random mixes of traditional and simplified
// characters, the simplifier writes what OpenCC writes.
func TestSimplifierAgreesWithOpenCC(t *testing.T) {
	cc, err := opencc.New("t2s")
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSimplifier()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, g := range cc.DictChains {
		for _, d := range g.Dicts {
			for _, id := range d.Trie.PrefixPredict(nil, 0) {
				k, err := d.Trie.Key(id)
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, string(k))
			}
			if n, _, _, _ := d.Trie.Status(); n != len(d.Trie.PrefixPredict(nil, 0)) {
				t.Fatalf("a table of %v lists %d of its %d entries", g, len(d.Trie.PrefixPredict(nil, 0)), n)
			}
		}
	}
	if len(keys) < 1000 {
		t.Fatalf("%d entries in OpenCC's tables; the tables did not load", len(keys))
	}
	var inputs []string
	for i, k := range keys {
		inputs = append(inputs, k, "在"+k+"的", k+keys[(i+1)%len(keys)]+keys[(i+7)%len(keys)])
	}
	for _, f := range []string{"../configs/kb/demo.yaml", "testdata/asked.csv"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, strings.Split(string(b), "\n")...)
	}
	var runes []rune
	for _, k := range keys {
		runes = append(runes, []rune(k)...)
	}
	runes = append(runes, []rune("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理世车")...)
	// Latin letters, digits, punctuation, control characters and invalid
	// bytes too, except 0x01 (below).
	for r := rune(0); r < 0x80; r++ {
		if r != 0x01 {
			runes = append(runes, r)
		}
	}
	runes = append(runes, []rune("，。？！、：；“”（）《》\ufffd")...)
	rng := rand.New(rand.NewPCG(16, 2026))
	for range 3000 {
		var b strings.Builder
		for range 1 + rng.IntN(30) {
			if rng.IntN(40) == 0 {
				b.WriteByte(0xff) // invalid UTF-8
				continue
			}
			b.WriteRune(runes[rng.IntN(len(runes))])
		}
		inputs = append(inputs, b.String())
	}
	inputs = append(inputs, "", "\xff", "\xff\xfe路灯", "路\xc3灯")
	for _, in := range inputs {
		want, err := cc.Convert(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.convert(in)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%q: simplifier %q, OpenCC %q", in, got, want)
		}
	}
	// OpenCC's one defect: its trie reads 0x01 as the start of every
	// one-character entry, and writes the entry for it. The simplifier keeps
	// the byte.
	if got, _ := s.convert("\x01國"); got != "\x01国" {
		t.Errorf("0x01 before a traditional character: %q, want %q", got, "\x01国")
	}
	// And the shortcut is taken: no character of a plain report begins an
	// entry, so it needs no look-up at all.
	for _, sg := range s.groups {
		if strings.ContainsFunc("小区门口井盖缺失，很危险", func(r rune) bool { return sg.starts[r] }) {
			t.Errorf("a character of a plain report begins an entry of %v", sg.g)
		}
	}
}
