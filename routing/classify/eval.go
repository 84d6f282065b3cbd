package classify

import (
	"math"
	"slices"
)

// Report holds a model's figures on a labelled set.
type Report struct {
	N         int                    `json:"n"`
	Accuracy  float64                `json:"accuracy"`
	MacroF1   float64                `json:"macro_f1"`
	ECE       float64                `json:"ece"`      // expected calibration error of the top label, 15 equal-width bins
	LogLoss   float64                `json:"log_loss"` // mean −ln P(true label); P floored at 1e-15
	PerClass  map[string]ClassReport `json:"per_class"`
	Labels    []string               `json:"labels"`    // order of Confusion's rows and columns
	Confusion [][]int                `json:"confusion"` // [true][predicted]
}

// ClassReport holds one label's figures.
type ClassReport struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"` // examples with this true label
}

// eceBins is the number of equal-width confidence bins of ECE.
const eceBins = 15

// Evaluate classifies every example and compares with its label. Labels are
// the model's followed by any label of the data the model does not know (in
// sorted order); such examples always count as errors. Macro-F1 averages
// over the labels that occur in the data or among the predictions.
func Evaluate(m *Model, ex []Example) Report {
	labels := m.Labels()
	var extra []string
	for _, e := range ex {
		if !slices.Contains(labels, e.Label) && !slices.Contains(extra, e.Label) {
			extra = append(extra, e.Label)
		}
	}
	slices.Sort(extra)
	labels = append(labels, extra...)
	pos := make(map[string]int, len(labels))
	for i, l := range labels {
		pos[l] = i
	}
	y := make([]int, len(ex))
	pred := make([]int, len(ex))
	conf := make([]float64, len(ex))
	var nll float64
	for i, e := range ex {
		ps := m.Predict(e.Text, 0)
		y[i], pred[i], conf[i] = pos[e.Label], pos[ps[0].Label], ps[0].P
		p := 0.0
		for _, q := range ps {
			if q.Label == e.Label {
				p = q.P
			}
		}
		nll -= math.Log(max(p, 1e-15))
	}
	r := Report{N: len(ex), Labels: labels, PerClass: map[string]ClassReport{}}
	r.Confusion = make([][]int, len(labels))
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, len(labels))
	}
	for i := range y {
		r.Confusion[y[i]][pred[i]]++
	}
	if len(ex) == 0 {
		return r
	}
	r.Accuracy, r.MacroF1 = accuracyMacroF1(y, pred, len(labels))
	r.ECE = ece(conf, y, pred)
	r.LogLoss = nll / float64(len(ex))
	for c, l := range labels {
		tp, sup, np := classCounts(r.Confusion, c)
		p, rc, f := prf(tp, sup, np)
		r.PerClass[l] = ClassReport{Precision: p, Recall: rc, F1: f, Support: sup}
	}
	return r
}

// classCounts returns the true positives, support and predicted count of class c.
func classCounts(conf [][]int, c int) (tp, support, predicted int) {
	for k := range conf {
		support += conf[c][k]
		predicted += conf[k][c]
	}
	return conf[c][c], support, predicted
}

func prf(tp, support, predicted int) (p, r, f float64) {
	if predicted > 0 {
		p = float64(tp) / float64(predicted)
	}
	if support > 0 {
		r = float64(tp) / float64(support)
	}
	if p+r > 0 {
		f = 2 * p * r / (p + r)
	}
	return p, r, f
}

// accuracyMacroF1 scores label indices in [0, n).
func accuracyMacroF1(y, pred []int, n int) (acc, macroF1 float64) {
	conf := make([][]int, n)
	for i := range conf {
		conf[i] = make([]int, n)
	}
	right := 0
	for i := range y {
		conf[y[i]][pred[i]]++
		if y[i] == pred[i] {
			right++
		}
	}
	var sum float64
	present := 0
	for c := range n {
		tp, sup, np := classCounts(conf, c)
		if sup == 0 && np == 0 {
			continue
		}
		_, _, f := prf(tp, sup, np)
		sum += f
		present++
	}
	if len(y) > 0 {
		acc = float64(right) / float64(len(y))
	}
	if present > 0 {
		macroF1 = sum / float64(present)
	}
	return acc, macroF1
}

// ece is the expected calibration error: the examples are binned by the
// confidence of their top label, and the gaps between each bin's accuracy
// and mean confidence are averaged, weighted by bin size.
func ece(conf []float64, y, pred []int) float64 {
	var n [eceBins]int
	var sumConf, sumRight [eceBins]float64
	for i, p := range conf {
		b := min(int(p*eceBins), eceBins-1)
		n[b]++
		sumConf[b] += p
		if y[i] == pred[i] {
			sumRight[b]++
		}
	}
	var e float64
	for b := range eceBins {
		if n[b] > 0 {
			e += math.Abs(sumRight[b]-sumConf[b]) / float64(len(conf))
		}
	}
	return e
}
