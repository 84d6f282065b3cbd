package classify

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExperiment compares model settings by phrase-grouped 5-fold
// cross-validation of train.csv (never heldout.csv), averaged over seeds 1..3:
// YIHAO_EXP=1 go test ./routing/classify -run TestExperiment -v
// (YIHAO_EXP_ONLY=svm to run only the variants whose name contains svm).
func TestExperiment(t *testing.T) {
	if os.Getenv("YIHAO_EXP") == "" {
		t.Skip()
	}
	ex := readCSVFile(t, "train.csv")
	filter := os.Getenv("YIHAO_EXP_ONLY")
	for _, v := range variants() {
		if filter != "" && !strings.Contains(v.name, filter) {
			continue
		}
		var acc, f1, e float64
		seeds := []uint64{1, 2, 3}
		start := time.Now()
		for _, s := range seeds {
			o := v.opts
			o.Seed = s
			m, err := Train(ex, o)
			if err != nil {
				t.Fatal(err)
			}
			in := m.Info()
			acc += in.CVAccuracy
			f1 += in.CVMacroF1
			e += in.CVECE
		}
		k := float64(len(seeds))
		t.Logf("%-40s acc %.4f F1 %.4f ECE %.4f  (%v/train)", v.name, acc/k, f1/k, e/k, (time.Since(start) / time.Duration(len(seeds))).Round(time.Millisecond))
	}
}

type variant struct {
	name string
	opts Options
}

// The comparison behind the defaults (macro-F1, mean of seeds 1..3):
//
//	svm (C=2, uni+bigrams, tf-idf), whole texts            0.826
//	  + stock phrases ignored (StopDocs 5, StopShare 0.5)  0.844 (shipped)
//	  stock phrases: StopDocs 3 / 8, StopShare 0.5         0.843 / 0.841
//	  stock phrases with C = 1 / 4                         0.843 / 0.845
//	  stock phrases with trigrams                          0.833
//
// Also measured on whole texts, all at or below 0.826, and not kept: C 0.5..4,
// plain hinge loss (0.797–0.823), trigrams (0.813) or trigrams weighted
// down, unigrams weighted up or down (0.758–0.818), idf^0.5, ^1.5, ^2 and no
// idf (0.797–0.819), NB-SVM log-count-ratio scaling (0.752–0.791), SVM plus
// complement NB scores (0.805–0.826), MinCount 2 / 3 (0.807 / 0.805),
// copies with a clause left out (0.778–0.804), a scaled bias feature, a
// higher cost for a label's own examples (0.820–0.827), logistic regression
// with L2 1e-4 / 1e-3 (0.786 / 0.761). The classes are balanced, so
// class weights were not tried beyond that.
func variants() []variant {
	mk := func(name string, f func(*Options)) variant {
		o := DefaultOptions()
		f(&o)
		return variant{name, o}
	}
	var vs []variant
	vs = append(vs, mk("logreg", func(o *Options) { *o = DefaultOptionsFor(LogReg) }))
	vs = append(vs, mk("logreg whole texts", func(o *Options) { *o = DefaultOptionsFor(LogReg); o.StopDocs = 0 }))
	vs = append(vs, mk("cnb", func(o *Options) { *o = DefaultOptionsFor(NaiveBayes) }))
	vs = append(vs, mk("cnb whole texts", func(o *Options) { *o = DefaultOptionsFor(NaiveBayes); o.StopDocs = 0 }))
	vs = append(vs, mk("svm whole texts", func(o *Options) { o.StopDocs = 0 }))
	vs = append(vs, mk("svm trigrams", func(o *Options) { o.MaxN = 3 }))
	for _, c := range []float64{1, 2, 4} {
		vs = append(vs, mk("svm C="+ftoa(c), func(o *Options) { o.C = c }))
	}
	for _, k := range []int{3, 5, 8} {
		for _, sh := range []float64{0.3, 0.5, 0.7} {
			vs = append(vs, mk("svm stock "+strconv.Itoa(k)+" "+ftoa(sh), func(o *Options) { o.StopDocs, o.StopShare = k, sh }))
		}
	}
	return vs
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
