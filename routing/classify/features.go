package classify

import "unicode"

// Features are hashed character n-grams. A text is normalised rune by rune:
// full-width ASCII and the ideographic space fold to their half-width forms,
// letters are lower-cased, every run of digits becomes one unit, and
// anything that is neither a letter nor a digit (punctuation, spaces,
// symbols) ends a segment. Within a segment each unit yields its unigram and
// the bigram and trigram ending at it, so no n-gram spans punctuation. No word
// segmenter is involved: for short Chinese texts character n-grams carry the
// words and most of their order.

// unit kinds returned by fold.
const (
	kindSep = iota
	kindLetter
	kindDigit
)

// digitUnit stands for any run of digits ("3号楼", "12345", "２０２６").
const digitUnit rune = '0'

// fold normalises one rune and says what kind of unit it is.
func fold(r rune) (rune, int) {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF: // CJK Unified Ideographs, the common case
		return r, kindLetter
	case r == 0x3000:
		return ' ', kindSep
	case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII
		r -= 0xFEE0
	}
	if r < 0x80 {
		switch {
		case r >= 'a' && r <= 'z':
			return r, kindLetter
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A'), kindLetter
		case r >= '0' && r <= '9':
			return digitUnit, kindDigit
		}
		return r, kindSep
	}
	switch {
	case unicode.IsLetter(r):
		return unicode.ToLower(r), kindLetter
	case unicode.IsNumber(r):
		return digitUnit, kindDigit
	}
	return r, kindSep
}

// Salts keep n-grams of different orders apart in the hash space.
const (
	salt1 = 0x9E3779B97F4A7C15
	salt2 = 0xC2B2AE3D27D4EB4F
	salt3 = 0x165667B19E3779F9
)

// mix is the splitmix64 finaliser: a cheap hash with good avalanche.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x
}

// forGrams calls fn with the hash bucket (in [0, 2^bits)) of every n-gram of
// order 1..maxN in text, in order, repeats included. It does not allocate.
func forGrams(text string, maxN int, bits uint, fn func(bucket uint32)) {
	shift := 64 - bits
	var p1, p2 rune // the previous two units of the segment
	n := 0          // units so far in the segment
	inDigits := false
	for _, r := range text {
		u, kind := fold(r)
		switch kind {
		case kindSep:
			n, inDigits = 0, false
			continue
		case kindDigit:
			if inDigits {
				continue
			}
			inDigits = true
		default:
			inDigits = false
		}
		ur := uint64(u)
		fn(uint32(mix(ur^salt1) >> shift))
		if maxN >= 2 && n >= 1 {
			fn(uint32(mix((uint64(p1)<<21|ur)^salt2) >> shift))
			if maxN >= 3 && n >= 2 {
				fn(uint32(mix((uint64(p2)<<42|uint64(p1)<<21|ur)^salt3) >> shift))
			}
		}
		p2, p1 = p1, u
		n++
	}
}

// forClauses calls fn with every clause of text — a maximal run of units,
// ended by a separator — and a hash of its normalised units, so that texts
// differing only in width, case or digits give equal hashes.
func forClauses(text string, fn func(clause string, hash uint64)) {
	start := -1
	var h uint64
	inDigits := false
	for i, r := range text {
		u, kind := fold(r)
		if kind == kindSep {
			if start >= 0 {
				fn(text[start:i], h)
				start = -1
			}
			continue
		}
		if start < 0 {
			start, h, inDigits = i, salt1, false
		}
		if kind == kindDigit {
			if inDigits {
				continue
			}
			inDigits = true
		} else {
			inDigits = false
		}
		h = mix(h ^ uint64(u))
	}
	if start >= 0 {
		fn(text[start:], h)
	}
}
