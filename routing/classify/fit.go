package classify

import (
	"math"
	"math/rand/v2"
)

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x5EED_C1A5_51F1))
}

// fitLogReg trains multinomial logistic regression, minimising the mean
// cross-entropy plus (L2/2)·‖W‖² by stochastic gradient descent with the
// step size η_t = η₀/(1 + η₀·L2·t) (Bottou, "Stochastic gradient descent
// tricks", 2012). The weights are kept as scale × V so that the decay of all
// weights at every step costs O(1); the biases are not decayed.
func fitLogReg(m *Model, docs []doc, y []int, opts Options) {
	nl := len(m.labels)
	v := make([]float64, len(m.w))
	scale := 1.0
	bias := make([]float64, nl)
	eta0, l2 := opts.LearningRate, opts.L2
	rng := newRand(opts.Seed)
	order := make([]int, len(docs))
	for i := range order {
		order[i] = i
	}
	g := make([]float64, nl)
	t := 0.0
	for range opts.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			d := docs[i]
			copy(g, bias)
			for k, r := range d.rows {
				x := float64(d.vals[k]) * scale
				ws := v[int(r)*nl : int(r)*nl+nl]
				for c := range ws {
					g[c] += x * ws[c]
				}
			}
			softmax(g, 1)
			g[y[i]] -= 1 // g is now the gradient of the loss by the logits
			eta := eta0 / (1 + eta0*l2*t)
			t++
			scale *= 1 - eta*l2
			for c := range nl {
				bias[c] -= eta * g[c]
			}
			for k, r := range d.rows {
				step := eta * float64(d.vals[k]) / scale
				ws := v[int(r)*nl : int(r)*nl+nl]
				for c := range ws {
					ws[c] -= step * g[c]
				}
			}
			if scale < 1e-9 {
				for j := range v {
					v[j] *= scale
				}
				scale = 1
			}
		}
	}
	for j := range v {
		m.w[j] = float32(v[j] * scale)
	}
	for c := range nl {
		m.bias[c] = float32(bias[c])
	}
}

// fitNaiveBayes fits complement naive Bayes (Rennie et al., 2003) on the
// feature vectors (L2-normalised counts, tf-idf weighted if asked): a label's
// weight for a feature is −log of the feature's smoothed share among the
// texts of all other labels, so a feature that is rare outside a label speaks
// for it. Each weight row is centred (the scores' softmax does not change) to
// keep float32 precision; the bias is zero, as complement NB leaves class
// priors out.
func fitNaiveBayes(m *Model, docs []doc, y []int, opts Options) {
	nl := len(m.labels)
	rows := len(m.idf)
	count := make([]float64, rows*nl) // feature mass per label
	total := make([]float64, rows)    // feature mass over all labels
	for i, d := range docs {
		for k, r := range d.rows {
			v := float64(d.vals[k])
			count[int(r)*nl+y[i]] += v
			total[r] += v
		}
	}
	var all float64
	labelMass := make([]float64, nl)
	for r := range rows {
		all += total[r]
		for c := range nl {
			labelMass[c] += count[r*nl+c]
		}
	}
	a := opts.Alpha
	denom := make([]float64, nl)
	for c := range nl {
		denom[c] = math.Log(all - labelMass[c] + a*float64(rows))
	}
	row := make([]float64, nl)
	for r := range rows {
		var mean float64
		for c := range nl {
			comp := total[r] - count[r*nl+c]
			row[c] = -(math.Log(max(comp, 0)+a) - denom[c])
			mean += row[c]
		}
		mean /= float64(nl)
		for c := range nl {
			m.w[r*nl+c] = float32(row[c] - mean)
		}
	}
}

// fitSVM trains one linear SVM per label (that label against the rest) with
// the squared hinge loss, min ½‖w‖² + C·Σ max(0, 1 − yᵢ w·xᵢ)², by dual
// coordinate descent (Hsieh et al., "A dual coordinate descent method for
// large-scale linear SVM", 2008; liblinear's L2R_L2LOSS_SVC_DUAL). The bias
// is the weight of a constant feature 1, regularised like the others. The
// margins serve as logits; the temperature makes them probabilities.
func fitSVM(m *Model, docs []doc, y []int, opts Options) {
	nl := len(m.labels)
	rows := len(m.idf)
	diag := 1 / (2 * opts.C)
	n := len(docs)
	w := make([]float64, rows+1) // the last is the bias
	alpha := make([]float64, n)
	qii := make([]float64, n)
	order := make([]int, n)
	for c := range nl {
		clear(w)
		clear(alpha)
		for i, d := range docs {
			q := 1 + diag // the bias feature
			for _, x := range d.vals {
				q += float64(x) * float64(x)
			}
			qii[i] = q
			order[i] = i
		}
		rng := newRand(opts.Seed + uint64(c)*0x9E37)
		for range opts.SVMEpochs {
			rng.Shuffle(n, func(a, b int) { order[a], order[b] = order[b], order[a] })
			maxPG := 0.0
			for _, i := range order {
				d := docs[i]
				yi := -1.0
				if y[i] == c {
					yi = 1
				}
				dot := w[rows]
				for k, r := range d.rows {
					dot += w[r] * float64(d.vals[k])
				}
				g := yi*dot - 1 + diag*alpha[i]
				pg := g
				if alpha[i] == 0 {
					pg = min(g, 0)
				}
				maxPG = max(maxPG, math.Abs(pg))
				if pg == 0 {
					continue
				}
				old := alpha[i]
				alpha[i] = max(old-g/qii[i], 0)
				step := (alpha[i] - old) * yi
				for k, r := range d.rows {
					w[r] += step * float64(d.vals[k])
				}
				w[rows] += step
			}
			if maxPG < 1e-3 {
				break
			}
		}
		for r := range rows {
			m.w[r*nl+c] = float32(w[r])
		}
		m.bias[c] = float32(w[rows])
	}
}
