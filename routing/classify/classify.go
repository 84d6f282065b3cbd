// Package classify is a pure-Go text classifier for short citizen messages:
// hashed character n-grams (no word segmenter), a linear model over them, and
// probabilities calibrated with a temperature fitted on cross-validated
// predictions of the training data. Clauses that training shows to be stock
// phrases of no particular label (greetings, pleas, district names) are left
// out of both training and prediction.
//
// Three model types are built in: one-vs-rest linear SVMs with the squared
// hinge loss, fitted by dual coordinate descent (SVM, the default: it
// measured best on the demo data), multinomial logistic regression with L2,
// trained by SGD (LogReg), and complement naive Bayes (NaiveBayes). All score
// a text the same way, as a bias plus the sum of its features' weight rows,
// so one prediction path serves them all: with 18 labels a 50-character text
// costs about a hundred table look-ups and a few thousand multiply-adds.
package classify

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// ModelType names a learning algorithm.
type ModelType string

// The model types.
const (
	LogReg     ModelType = "logreg" // multinomial logistic regression, L2, SGD
	NaiveBayes ModelType = "cnb"    // complement naive Bayes
	SVM        ModelType = "svm"    // one-vs-rest linear SVMs, squared hinge, dual coordinate descent
)

// Options tune training. Start from DefaultOptions; the zero value is not
// valid. Training is deterministic given the options (Seed included).
type Options struct {
	Type     ModelType
	Seed     uint64 // shuffling of examples and of cross-validation folds
	HashBits int    // features are hashed into 2^HashBits buckets (10..24)
	MaxN     int    // longest character n-gram, 1..3
	MinCount int    // features seen in fewer training texts are dropped
	TFIDF    bool   // weight features by inverse document frequency

	// Logistic regression.
	Epochs       int     // passes over the examples
	LearningRate float64 // initial SGD step size η₀
	L2           float64 // λ of the objective mean-loss + (λ/2)·‖W‖²

	// Naive Bayes.
	Alpha float64 // additive smoothing

	// SVM: each label's SVM minimises ½‖w‖² + C·Σ max(0, 1 − yᵢ·w·xᵢ)².
	C         float64 // cost of margin violations (liblinear's C)
	SVMEpochs int     // most passes of dual coordinate descent per label

	// Stock phrases: a clause (a run of text between punctuation) found in
	// at least StopDocs training texts, no label holding more than StopShare
	// of them, is a stock phrase — a greeting, a plea, a district, a
	// by-the-way complaint ("请尽快处理", "来电人反映", "另外旁边的路灯也不
	// 亮") — and is ignored in training and prediction, so that it does not
	// dilute the clauses that say what is wrong. StopDocs 0: none.
	StopDocs  int
	StopShare float64 // in (0, 1]

	// Calibration: the temperature is fitted on out-of-fold predictions of
	// this many folds of the training data (0 or 1: no calibration, T = 1).
	// The folds' predictions also give the cross-validated figures of Info.
	Folds int
	// GroupSimilarity keeps near-duplicates (same label, cosine of their
	// feature vectors at least this) in one calibration fold; 0 deals the
	// examples one by one.
	GroupSimilarity float64
}

// DefaultOptions returns the settings measured best on the demo data
// (phrase-grouped cross-validation of the training set): one-vs-rest linear
// SVMs over tf-idf weighted unigrams and bigrams, C = 2, stock phrases (in 5
// or more texts, no label holding more than half of them) ignored.
func DefaultOptions() Options { return DefaultOptionsFor(SVM) }

// DefaultOptionsFor returns the settings measured best on the demo data for
// a model type (for naive Bayes: raw term counts, Alpha 1).
func DefaultOptionsFor(t ModelType) Options {
	o := Options{
		Type:            t,
		Seed:            1,
		HashBits:        18,
		MaxN:            2,
		MinCount:        1,
		TFIDF:           true,
		Epochs:          30,
		LearningRate:    1,
		L2:              1e-5,
		Alpha:           1,
		C:               2,
		SVMEpochs:       100,
		StopDocs:        5,
		StopShare:       0.5,
		Folds:           5,
		GroupSimilarity: 0.3,
	}
	if t == NaiveBayes {
		o.TFIDF = false
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.Type != LogReg && o.Type != NaiveBayes && o.Type != SVM:
		return fmt.Errorf("classify: unknown model type %q (want %s, %s or %s)", o.Type, SVM, LogReg, NaiveBayes)
	case o.HashBits < 10 || o.HashBits > 24:
		return fmt.Errorf("classify: HashBits %d out of range 10..24", o.HashBits)
	case o.MaxN < 1 || o.MaxN > 3:
		return fmt.Errorf("classify: MaxN %d out of range 1..3", o.MaxN)
	case o.MinCount < 1:
		return fmt.Errorf("classify: MinCount must be at least 1")
	case o.Type == LogReg && (o.Epochs < 1 || !(o.LearningRate > 0) || !(o.L2 >= 0) || !(o.LearningRate*o.L2 < 1)):
		return fmt.Errorf("classify: logreg needs Epochs ≥ 1, LearningRate > 0, L2 ≥ 0 and LearningRate·L2 < 1")
	case o.Type == NaiveBayes && !(o.Alpha > 0):
		return fmt.Errorf("classify: naive Bayes needs Alpha > 0")
	case o.Type == SVM && (!(o.C > 0) || math.IsInf(o.C, 0) || o.SVMEpochs < 1):
		return fmt.Errorf("classify: svm needs a finite C > 0 and SVMEpochs ≥ 1")
	case o.StopDocs < 0 || (o.StopDocs > 0 && !(o.StopShare > 0 && o.StopShare <= 1)):
		return fmt.Errorf("classify: StopDocs must not be negative, and with StopDocs > 0 StopShare must be in (0, 1]")
	case !(o.GroupSimilarity >= 0 && o.GroupSimilarity <= 1):
		return fmt.Errorf("classify: GroupSimilarity must be in [0, 1]")
	case o.Folds < 0:
		return fmt.Errorf("classify: Folds must not be negative")
	}
	return nil
}

// Prediction is one label with its calibrated probability.
type Prediction struct {
	Label string
	P     float64
}

// Info describes a trained model.
type Info struct {
	Type        ModelType `json:"type"`
	Examples    int       `json:"examples"`
	Labels      int       `json:"labels"`
	Features    int       `json:"features"` // hash buckets with weights
	HashBits    int       `json:"hash_bits"`
	MaxN        int       `json:"max_n"`
	Temperature float64   `json:"temperature"`
	// Stock phrases ignored (see Options.StopDocs).
	StockPhrases int `json:"stock_phrases"`
	// Cross-validated figures on the training data (out-of-fold predictions,
	// after calibration); zero when Folds < 2.
	Folds      int           `json:"folds"`
	CVAccuracy float64       `json:"cv_accuracy"`
	CVMacroF1  float64       `json:"cv_macro_f1"`
	CVLogLoss  float64       `json:"cv_log_loss"`
	CVECE      float64       `json:"cv_ece"`
	TrainTime  time.Duration `json:"train_time_ns"`
}

// Model is a trained classifier. It is immutable and safe for concurrent use.
type Model struct {
	typ    ModelType
	labels []string
	bits   uint
	maxN   int
	index  []int32   // bucket -> row of w, or -1
	idf    []float32 // per row; all 1 without tf-idf
	w      []float32 // rows × len(labels), row-major
	bias   []float32 // len(labels)
	invT   float64   // 1 / temperature
	stop   []uint64  // ascending clause hashes of stock phrases, ignored
	info   Info
}

// Labels returns the model's labels in its internal (sorted) order.
func (m *Model) Labels() []string { return slices.Clone(m.labels) }

// Info describes how the model was trained.
func (m *Model) Info() Info { return m.info }

// maxStackLabels bounds the label count scored without a heap buffer.
const maxStackLabels = 64

// Predict returns the k most probable labels for text (all labels when k ≤ 0
// or k exceeds their number), most probable first; ties go to the label that
// sorts first. The probabilities are calibrated, and over all labels they sum
// to 1 (within rounding), so over the k returned they sum to at most 1.
func (m *Model) Predict(text string, k int) []Prediction {
	nl := len(m.labels)
	out := make([]Prediction, nl)
	var buf [maxStackLabels]float64
	var z []float64
	if nl <= maxStackLabels {
		z = buf[:nl]
	} else {
		z = make([]float64, nl)
	}
	m.logits(text, z)
	softmax(z, m.invT)
	for i, l := range m.labels {
		out[i] = Prediction{Label: l, P: z[i]}
	}
	// Insertion sort: few labels, stable (labels are sorted), no allocation.
	for i := 1; i < nl; i++ {
		for j := i; j > 0 && out[j].P > out[j-1].P; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	if k <= 0 || k > nl {
		k = nl
	}
	return out[:k:k]
}

// logits writes the uncalibrated scores of text into z (len(m.labels)).
func (m *Model) logits(text string, z []float64) {
	nl := len(m.labels)
	for c := range z {
		z[c] = 0
	}
	var sumsq float64
	add := func(b uint32) {
		row := m.index[b]
		if row < 0 {
			return
		}
		v := m.idf[row]
		sumsq += float64(v) * float64(v)
		ws := m.w[int(row)*nl : int(row)*nl+nl]
		for c, w := range ws {
			z[c] += float64(v * w)
		}
	}
	if len(m.stop) == 0 {
		forGrams(text, m.maxN, m.bits, add)
	} else {
		forClauses(text, func(clause string, h uint64) {
			if _, stock := slices.BinarySearch(m.stop, h); !stock {
				forGrams(clause, m.maxN, m.bits, add)
			}
		})
	}
	scale := 0.0
	if sumsq > 0 {
		scale = 1 / math.Sqrt(sumsq)
	}
	for c := range z {
		z[c] = z[c]*scale + float64(m.bias[c])
	}
}

// softmax turns logits into probabilities at inverse temperature invT, in place.
func softmax(z []float64, invT float64) {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = max(mx, v*invT)
	}
	var sum float64
	for i, v := range z {
		e := math.Exp(v*invT - mx)
		z[i] = e
		sum += e
	}
	for i := range z {
		z[i] /= sum
	}
}

// Train fits a model to the examples. Labels are taken from the examples.
func Train(ex []Example, opts Options) (*Model, error) {
	start := time.Now()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if len(ex) == 0 {
		return nil, errors.New("classify: no training examples")
	}
	labels, y, err := labelIndex(ex)
	if err != nil {
		return nil, err
	}
	if len(labels) < 2 {
		return nil, fmt.Errorf("classify: need at least 2 labels, got %d (%s)", len(labels), strings.Join(labels, ", "))
	}
	info := Info{Type: opts.Type, Examples: len(ex), Labels: len(labels), HashBits: opts.HashBits, MaxN: opts.MaxN, Temperature: 1}

	invT := 1.0
	if folds := min(opts.Folds, len(ex)); folds >= 2 {
		z, yy := outOfFold(ex, y, labels, opts, folds)
		invT = fitInverseTemperature(z, yy, len(labels))
		info.Folds = folds
		pred := make([]int, len(yy))
		conf := make([]float64, len(yy))
		var nll float64
		for i := range yy {
			p := z[i*len(labels) : (i+1)*len(labels)]
			softmax(p, invT)
			best := 0
			for c := range p {
				if p[c] > p[best] {
					best = c
				}
			}
			pred[i], conf[i] = best, p[best]
			nll -= math.Log(max(p[yy[i]], 1e-15))
		}
		info.CVAccuracy, info.CVMacroF1 = accuracyMacroF1(yy, pred, len(labels))
		info.CVLogLoss = nll / float64(len(yy))
		info.CVECE = ece(conf, yy, pred)
	}
	m := trainRaw(ex, y, labels, opts)
	m.invT = invT
	info.Temperature = 1 / invT
	info.Features = len(m.idf)
	info.StockPhrases = len(m.stop)
	info.TrainTime = time.Since(start)
	m.info = info
	return m, nil
}

// labelIndex returns the sorted distinct labels and each example's index.
func labelIndex(ex []Example) ([]string, []int, error) {
	set := map[string]bool{}
	for _, e := range ex {
		if e.Label == "" {
			return nil, nil, fmt.Errorf("classify: line %d: empty label", e.Line)
		}
		set[e.Label] = true
	}
	labels := make([]string, 0, len(set))
	for l := range set {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	y := make([]int, len(ex))
	for i, e := range ex {
		y[i], _ = slices.BinarySearch(labels, e.Label)
	}
	return labels, y, nil
}

// outOfFold trains one model per fold on the other folds and returns the
// held-out logits (row-major, example × label) and labels in fold order.
// The folds are those of assignFolds. They train in parallel; the results do
// not depend on it.
func outOfFold(ex []Example, y []int, labels []string, opts Options, folds int) ([]float64, []int) {
	fold := assignFolds(ex, y, labels, opts, folds)
	nl := len(labels)
	z := make([]float64, len(ex)*nl)
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	for f := range folds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var tex []Example
			var ty []int
			for i := range ex {
				if fold[i] != f {
					tex, ty = append(tex, ex[i]), append(ty, y[i])
				}
			}
			fo := opts
			fo.Seed = opts.Seed + uint64(f) + 1
			m := trainRaw(tex, ty, labels, fo)
			for i := range ex {
				if fold[i] == f {
					m.logits(ex[i].Text, z[i*nl:(i+1)*nl])
				}
			}
		}()
	}
	wg.Wait()
	return z, y
}

// fitInverseTemperature returns the β > 0 minimising the log-loss of
// softmax(β·z). The loss is convex in β, so a golden-section search over
// log β finds it.
func fitInverseTemperature(z []float64, y []int, nl int) float64 {
	p := make([]float64, nl)
	loss := func(logBeta float64) float64 {
		beta := math.Exp(logBeta)
		var s float64
		for i, yi := range y {
			copy(p, z[i*nl:(i+1)*nl])
			softmax(p, beta)
			s -= math.Log(max(p[yi], 1e-300))
		}
		return s
	}
	lo, hi := math.Log(1e-3), math.Log(1e4)
	g := (math.Sqrt(5) - 1) / 2
	a, b := hi-g*(hi-lo), lo+g*(hi-lo)
	fa, fb := loss(a), loss(b)
	for hi-lo > 1e-4 {
		if fa < fb {
			hi, b, fb = b, a, fa
			a = hi - g*(hi-lo)
			fa = loss(a)
		} else {
			lo, a, fa = a, b, fb
			b = lo + g*(hi-lo)
			fb = loss(b)
		}
	}
	return math.Exp((lo + hi) / 2)
}

// trainRaw fits the model's weights (temperature 1) with the given label
// set, which may include labels without examples.
func trainRaw(ex []Example, y []int, labels []string, opts Options) *Model {
	m, docs := vectorise(ex, labels, opts)
	switch opts.Type {
	case NaiveBayes:
		fitNaiveBayes(m, docs, y, opts)
	case SVM:
		fitSVM(m, docs, y, opts)
	default:
		fitLogReg(m, docs, y, opts)
	}
	m.invT = 1
	return m
}

// doc is one example as a sparse, L2-normalised feature vector.
type doc struct {
	rows []int32
	vals []float32
}

// vectorise builds the feature table of a new model from the examples and
// returns them as sparse vectors, exactly as logits will see texts.
func vectorise(ex []Example, labels []string, opts Options) (*Model, []doc) {
	bits := uint(opts.HashBits)
	size := 1 << bits
	stop := stockPhrases(ex, opts)
	grams := func(text string, fn func(uint32)) {
		if len(stop) == 0 {
			forGrams(text, opts.MaxN, bits, fn)
			return
		}
		forClauses(text, func(clause string, h uint64) {
			if _, stock := slices.BinarySearch(stop, h); !stock {
				forGrams(clause, opts.MaxN, bits, fn)
			}
		})
	}
	df := make([]int32, size)
	last := make([]int32, size) // 1 + index of the last example that counted a bucket
	for i, e := range ex {
		grams(e.Text, func(b uint32) {
			if last[b] != int32(i+1) {
				last[b] = int32(i + 1)
				df[b]++
			}
		})
	}
	index := last // reuse
	rows := int32(0)
	for b := range index {
		if df[b] >= int32(opts.MinCount) {
			index[b] = rows
			rows++
		} else {
			index[b] = -1
		}
	}
	idf := make([]float32, rows)
	n := float64(len(ex))
	for b, r := range index {
		if r < 0 {
			continue
		}
		idf[r] = 1
		if opts.TFIDF {
			idf[r] = float32(math.Log((1+n)/(1+float64(df[b]))) + 1)
		}
	}
	m := &Model{
		typ: opts.Type, labels: labels, bits: bits, maxN: opts.MaxN,
		index: index, idf: idf,
		w:    make([]float32, int(rows)*len(labels)),
		bias: make([]float32, len(labels)),
		invT: 1,
		stop: stop,
	}
	docs := make([]doc, len(ex))
	acc := map[int32]float32{}
	for i, e := range ex {
		clear(acc)
		var sumsq float64
		grams(e.Text, func(b uint32) {
			if r := index[b]; r >= 0 {
				v := idf[r]
				acc[r] += v
				sumsq += float64(v) * float64(v)
			}
		})
		d := doc{rows: make([]int32, 0, len(acc)), vals: make([]float32, 0, len(acc))}
		for r := range acc {
			d.rows = append(d.rows, r)
		}
		slices.Sort(d.rows)
		scale := float32(0)
		if sumsq > 0 {
			scale = float32(1 / math.Sqrt(sumsq))
		}
		for _, r := range d.rows {
			d.vals = append(d.vals, acc[r]*scale)
		}
		docs[i] = d
	}
	return m, docs
}

// stockPhrases returns the ascending hashes of the stock phrases of the
// examples (see Options.StopDocs).
func stockPhrases(ex []Example, opts Options) []uint64 {
	if opts.StopDocs <= 0 {
		return nil
	}
	type seen struct {
		docs   int
		labels map[string]int
		last   int
	}
	m := map[uint64]*seen{}
	for i, e := range ex {
		forClauses(e.Text, func(_ string, h uint64) {
			s := m[h]
			if s == nil {
				s = &seen{labels: map[string]int{}, last: -1}
				m[h] = s
			}
			if s.last != i {
				s.last = i
				s.docs++
				s.labels[e.Label]++
			}
		})
	}
	var out []uint64
	for h, s := range m {
		top := 0
		for _, n := range s.labels {
			top = max(top, n)
		}
		if s.docs >= opts.StopDocs && float64(top) <= opts.StopShare*float64(s.docs) {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out
}
