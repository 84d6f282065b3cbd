package classify

import (
	"cmp"
	"slices"
)

// maxGroupedPerLabel bounds the examples of one label that assignFolds
// compares pairwise; beyond it a label's examples are dealt one by one.
const maxGroupedPerLabel = 3000

// assignFolds deals the examples into folds for calibration, stratified by
// label. With a similarity threshold > 0, examples of one label whose feature
// vectors have a cosine similarity of at least the threshold are kept in the
// same fold (transitively, up to a fold's share of the label): hotline data
// holds many near-duplicates — one incident reported by several callers, one
// agent's phrasing — and splitting them across folds would let each fold
// "see" its test texts, making the cross-validated predictions, and the
// temperature fitted on them, overconfident on genuinely new texts.
func assignFolds(ex []Example, y []int, labels []string, opts Options, folds int) []int {
	rng := newRand(opts.Seed ^ 0xF01D)
	perm := rng.Perm(len(ex))
	byLabel := make([][]int, len(labels))
	for _, i := range perm {
		byLabel[y[i]] = append(byLabel[y[i]], i)
	}
	var docs []doc
	if opts.GroupSimilarity > 0 {
		_, docs = vectorise(ex, labels, groupingOptions(opts))
	}
	fold := make([]int, len(ex))
	for _, idx := range byLabel {
		groups := [][]int{}
		if docs != nil && len(idx) <= maxGroupedPerLabel {
			groups = similarGroups(idx, docs, opts.GroupSimilarity, (len(idx)+folds-1)/folds)
		} else {
			for _, i := range idx {
				groups = append(groups, []int{i})
			}
		}
		// Largest groups first, each to the fold with the fewest so far.
		slices.SortStableFunc(groups, func(a, b []int) int { return cmp.Compare(len(b), len(a)) })
		size := make([]int, folds)
		for _, g := range groups {
			f := 0
			for k := range size {
				if size[k] < size[f] {
					f = k
				}
			}
			for _, i := range g {
				fold[i] = f
			}
			size[f] += len(g)
		}
	}
	return fold
}

// groupingOptions are the features by which assignFolds measures the
// similarity of texts: tf-idf unigrams and bigrams of the whole text (stock
// phrases included) whatever the model's own features, so that the folds,
// and the cross-validated figures, of models with different features are
// comparable.
func groupingOptions(o Options) Options {
	g := DefaultOptionsFor(LogReg)
	g.Seed = o.Seed
	g.StopDocs = 0
	return g
}

// similarGroups links the examples idx whose vectors have a cosine of at
// least threshold, never letting a group grow beyond maxSize, and returns
// the groups in order of their first member.
func similarGroups(idx []int, docs []doc, threshold float64, maxSize int) [][]int {
	parent := make([]int, len(idx))
	size := make([]int, len(idx))
	for i := range parent {
		parent[i], size[i] = i, 1
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for a := range idx {
		for b := a + 1; b < len(idx); b++ {
			ra, rb := find(a), find(b)
			if ra == rb || size[ra]+size[rb] > maxSize {
				continue
			}
			if cosine(docs[idx[a]], docs[idx[b]]) >= threshold {
				parent[rb] = ra
				size[ra] += size[rb]
			}
		}
	}
	pos := map[int]int{}
	var groups [][]int
	for a, i := range idx {
		r := find(a)
		k, ok := pos[r]
		if !ok {
			k = len(groups)
			pos[r] = k
			groups = append(groups, nil)
		}
		groups[k] = append(groups[k], i)
	}
	return groups
}

// cosine of two L2-normalised sparse vectors with ascending rows.
func cosine(a, b doc) float64 {
	var s float64
	i, j := 0, 0
	for i < len(a.rows) && j < len(b.rows) {
		switch {
		case a.rows[i] < b.rows[j]:
			i++
		case a.rows[i] > b.rows[j]:
			j++
		default:
			s += float64(a.vals[i]) * float64(b.vals[j])
			i++
			j++
		}
	}
	return s
}
