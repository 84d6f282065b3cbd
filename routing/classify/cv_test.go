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

func variants() []variant {
	mk := func(name string, f func(*Options)) variant {
		o := DefaultOptions()
		f(&o)
		return variant{name, o}
	}
	var vs []variant
	vs = append(vs, mk("logreg", func(o *Options) { *o = DefaultOptionsFor(LogReg) }))
	vs = append(vs, mk("cnb", func(o *Options) { *o = DefaultOptionsFor(NaiveBayes) }))
	for _, c := range []float64{1, 2, 3} {
		vs = append(vs, mk("svm C="+ftoa(c), func(o *Options) { o.C = c }))
	}
	return vs
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
