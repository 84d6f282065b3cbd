package classify

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"math"
)

// The file format: the 8-byte magic, one version byte, then a gzip stream of
// one gob-encoded modelFile. Load rejects anything else with a clear error.
//
// Version 2 added the model type svm; its layout is that of version 1.
// Version 3 added the stock phrases (StockPhrases). Load still reads
// versions 1 and 2 (a version 1 file holds logreg or cnb; neither holds
// stock phrases).
const (
	fileMagic      = "YIHAOCLF"
	fileVersion    = 3
	minFileVersion = 1
)

// maxStockPhrases bounds the stock phrases of a model file.
const maxStockPhrases = 1 << 20

// modelFile is the saved model (versions 1 to 3). Only the buckets that
// carry weights are stored; the bucket index is rebuilt on load.
type modelFile struct {
	Type     string
	Labels   []string
	HashBits int
	MaxN     int
	Buckets  []uint32  // ascending; row i of Weights belongs to Buckets[i]
	IDF      []float32 // per row
	Weights  []float32 // rows × labels
	Bias     []float32
	InvT     float64
	Info     Info
	// Version 3: hashes of the clauses ignored as stock phrases, ascending.
	StockPhrases []uint64
}

// Save writes the model in the versioned binary format read by Load.
func (m *Model) Save(w io.Writer) error {
	f := modelFile{
		Type: string(m.typ), Labels: m.labels, HashBits: int(m.bits), MaxN: m.maxN,
		Buckets: make([]uint32, len(m.idf)), IDF: m.idf, Weights: m.w, Bias: m.bias,
		InvT: m.invT, Info: m.info, StockPhrases: m.stop,
	}
	for b, r := range m.index {
		if r >= 0 {
			f.Buckets[r] = uint32(b)
		}
	}
	if _, err := io.WriteString(w, fileMagic); err != nil {
		return err
	}
	if _, err := w.Write([]byte{fileVersion}); err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(zw).Encode(&f); err != nil {
		return fmt.Errorf("classify: encode model: %w", err)
	}
	return zw.Close()
}

// Load reads a model written by Save.
func Load(r io.Reader) (*Model, error) {
	br := bufio.NewReader(r)
	head := make([]byte, len(fileMagic)+1)
	if _, err := io.ReadFull(br, head); err != nil || !bytes.Equal(head[:len(fileMagic)], []byte(fileMagic)) {
		return nil, errors.New("classify: not a classifier model (bad magic; want a file written by yihao classify train)")
	}
	v := head[len(fileMagic)]
	if v < minFileVersion || v > fileVersion {
		return nil, fmt.Errorf("classify: model format version %d not supported (this build reads versions %d to %d)", v, minFileVersion, fileVersion)
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("classify: corrupt model: %w", err)
	}
	// A model is loaded by a running server on reload, so a crafted file
	// must not be able to make it allocate gigabytes: the decompressed size
	// is capped, and every gob message must fit in what is actually there
	// (gob allocates a message's claimed size before reading it).
	raw, err := io.ReadAll(io.LimitReader(zr, maxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("classify: corrupt model: %w", err)
	}
	if len(raw) > maxModelBytes {
		return nil, fmt.Errorf("classify: corrupt model: more than %d MB decompressed", maxModelBytes>>20)
	}
	if err := checkGobFrames(raw); err != nil {
		return nil, fmt.Errorf("classify: corrupt model: %w", err)
	}
	var f modelFile
	if err := gob.NewDecoder(bytes.NewReader(raw)).Decode(&f); err != nil {
		return nil, fmt.Errorf("classify: corrupt model: %w", err)
	}
	if v < 2 && ModelType(f.Type) == SVM {
		return nil, errors.New("classify: corrupt model: model type svm in a version 1 file")
	}
	if v < 3 && len(f.StockPhrases) > 0 {
		return nil, fmt.Errorf("classify: corrupt model: stock phrases in a version %d file", v)
	}
	return f.model()
}

// maxModelBytes bounds a decompressed model; the demo model is ~10 MB.
const maxModelBytes = 256 << 20

// checkGobFrames walks the gob stream's length-prefixed messages and
// refuses one that claims more bytes than remain.
func checkGobFrames(b []byte) error {
	for len(b) > 0 {
		n, w, err := gobUint(b)
		if err != nil {
			return err
		}
		b = b[w:]
		if n > uint64(len(b)) {
			return fmt.Errorf("a gob message claims %d bytes, %d remain", n, len(b))
		}
		b = b[n:]
	}
	return nil
}

// gobUint decodes gob's unsigned integer: one byte below 128, else a
// negated byte count followed by that many big-endian bytes.
func gobUint(b []byte) (uint64, int, error) {
	if len(b) == 0 {
		return 0, 0, errors.New("truncated gob length")
	}
	if b[0] < 0x80 {
		return uint64(b[0]), 1, nil
	}
	n := int(-int8(b[0]))
	if n < 1 || n > 8 || len(b) < 1+n {
		return 0, 0, errors.New("bad gob length")
	}
	var x uint64
	for _, c := range b[1 : 1+n] {
		x = x<<8 | uint64(c)
	}
	return x, 1 + n, nil
}

// model checks the decoded file and builds the model.
func (f *modelFile) model() (*Model, error) {
	bad := func(format string, a ...any) (*Model, error) {
		return nil, fmt.Errorf("classify: corrupt model: "+format, a...)
	}
	nl, rows := len(f.Labels), len(f.Buckets)
	switch {
	case ModelType(f.Type) != LogReg && ModelType(f.Type) != NaiveBayes && ModelType(f.Type) != SVM:
		return bad("unknown model type %q", f.Type)
	case nl < 2:
		return bad("%d labels", nl)
	case f.HashBits < 10 || f.HashBits > 24:
		return bad("hash bits %d", f.HashBits)
	case f.MaxN < 1 || f.MaxN > 3:
		return bad("n-gram order %d", f.MaxN)
	case len(f.IDF) != rows || len(f.Weights) != rows*nl || len(f.Bias) != nl:
		return bad("table sizes do not match (%d buckets, %d idf, %d weights, %d biases, %d labels)",
			rows, len(f.IDF), len(f.Weights), len(f.Bias), nl)
	case !(f.InvT > 0) || math.IsInf(f.InvT, 0):
		return bad("temperature")
	case len(f.StockPhrases) > maxStockPhrases:
		return bad("%d stock phrases (at most %d)", len(f.StockPhrases), maxStockPhrases)
	}
	for i := 1; i < len(f.StockPhrases); i++ {
		if f.StockPhrases[i] <= f.StockPhrases[i-1] {
			return bad("stock phrases not ascending")
		}
	}
	seen := make(map[string]bool, nl)
	for i, l := range f.Labels {
		if l == "" || seen[l] || (i > 0 && l < f.Labels[i-1]) {
			return bad("labels not distinct and sorted")
		}
		seen[l] = true
	}
	for _, vs := range [][]float32{f.IDF, f.Weights, f.Bias} {
		for _, v := range vs {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return bad("non-finite weight")
			}
		}
	}
	size := uint32(1) << f.HashBits
	index := make([]int32, size)
	for i := range index {
		index[i] = -1
	}
	for r, b := range f.Buckets {
		if b >= size || (r > 0 && b <= f.Buckets[r-1]) {
			return bad("buckets out of range or order")
		}
		index[b] = int32(r)
	}
	return &Model{
		typ: ModelType(f.Type), labels: f.Labels, bits: uint(f.HashBits), maxN: f.MaxN,
		index: index, idf: f.IDF, w: f.Weights, bias: f.Bias, invT: f.InvT, info: f.Info,
		stop: f.StockPhrases,
	}, nil
}
