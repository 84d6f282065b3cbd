package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yihao-city/yihao/routing/classify"
)

const classifyUsage = `usage:
  yihao classify train   --in FILE.csv --out MODEL [--seed N] [--type svm|logreg|cnb]
  yihao classify train   --from-store --out MODEL [--in BASE.csv] [--months 12]
  yihao classify eval    --model MODEL --in FILE.csv [--json]
  yihao classify eval    --from-store --model MODEL [--against MODEL_IN_SERVICE] [--install]
  yihao classify predict --model MODEL --text TEXT [--k 3]

FILE.csv is UTF-8 with the header text,label. --from-store reads the
configured store: training takes the tickets finished before the most
recent month, labelled with the category they were finally dispatched
under; eval compares MODEL with the model in service on that month and,
with --install, puts MODEL in service only when its macro-F1 is higher.
`

// runClassify runs `yihao classify <command> [flags]`; args excludes
// "classify". config loads the configuration, which only --from-store
// needs (the store).
func runClassify(ctx context.Context, args []string, stdout io.Writer, config func() (Config, error)) error {
	if len(args) == 0 {
		return fmt.Errorf("classify: missing command (train, eval or predict)\n%s", classifyUsage)
	}
	var run func(context.Context, []string, io.Writer) error
	switch args[0] {
	case "train":
		run = func(ctx context.Context, args []string, w io.Writer) error {
			return classifyTrain(ctx, args, w, config)
		}
	case "eval":
		run = func(ctx context.Context, args []string, w io.Writer) error { return classifyEval(ctx, args, w, config) }
	case "predict":
		run = classifyPredict
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, classifyUsage)
		return nil
	default:
		return fmt.Errorf("classify: unknown command %q (want train, eval or predict)\n%s", args[0], classifyUsage)
	}
	err := run(ctx, args[1:], stdout)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, classifyUsage)
		return nil
	}
	return err
}

// parseClassifyFlags parses args into fs, which must not print, and checks
// that the named string flags are set.
func parseClassifyFlags(fs *flag.FlagSet, args []string, required ...string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%s: %w\n%s", fs.Name(), err, classifyUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q\n%s", fs.Name(), fs.Args(), classifyUsage)
	}
	for _, name := range required {
		if fs.Lookup(name).Value.String() == "" {
			return fmt.Errorf("%s: --%s is required\n%s", fs.Name(), name, classifyUsage)
		}
	}
	return nil
}

func classifyTrain(ctx context.Context, args []string, stdout io.Writer, config func() (Config, error)) error {
	fs := flag.NewFlagSet("classify train", flag.ContinueOnError)
	in := fs.String("in", "", "labelled examples (CSV: text,label); with --from-store, added to the store's")
	out := fs.String("out", "", "model file to write")
	seed := fs.Uint64("seed", classify.DefaultOptions().Seed, "random seed (training is deterministic given it)")
	typ := fs.String("type", string(classify.DefaultOptions().Type), "model type: svm (one-vs-rest linear SVMs), logreg (logistic regression) or cnb (complement naive Bayes)")
	fromStore := fs.Bool("from-store", false, "learn from the configured store's finished tickets before the most recent month")
	months := fs.Int("months", 12, "with --from-store: how many months before the held-out one")
	required := []string{"in", "out"}
	if slices.Contains(args, "--from-store") || slices.Contains(args, "-from-store") {
		required = []string{"out"}
	}
	if err := parseClassifyFlags(fs, args, required...); err != nil {
		return err
	}
	if t := classify.ModelType(*typ); t != classify.SVM && t != classify.LogReg && t != classify.NaiveBayes {
		return fmt.Errorf("classify train: --type %q: want svm, logreg or cnb", *typ)
	}
	if *fromStore {
		if *months < 1 || *months > 120 {
			return errors.New("classify train: --months must be 1 to 120")
		}
		cfg, err := config()
		if err != nil {
			return err
		}
		opts := classify.DefaultOptionsFor(classify.ModelType(*typ))
		opts.Seed = *seed
		return trainFromStore(ctx, cfg, *in, *out, *months, opts, stdout)
	}
	ex, err := readExamples(*in)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, e := range ex {
		counts[e.Label]++
	}
	fmt.Fprintf(stdout, "read %d examples with %d labels from %s\n", len(ex), len(counts), *in)
	if err := ctx.Err(); err != nil {
		return err
	}
	opts := classify.DefaultOptionsFor(classify.ModelType(*typ))
	opts.Seed = *seed
	start := time.Now()
	m, err := classify.Train(ex, opts)
	if err != nil {
		return fmt.Errorf("classify train: %w", err)
	}
	took := time.Since(start)
	var labels []string
	for _, l := range m.Labels() {
		labels = append(labels, fmt.Sprintf("%s (%d)", l, counts[l]))
	}
	fmt.Fprintf(stdout, "labels: %s\n", strings.Join(labels, ", "))
	info := m.Info()
	fmt.Fprintf(stdout, "trained %s in %s: %d features, temperature %.3f\n",
		info.Type, took.Round(time.Millisecond), info.Features, info.Temperature)
	if info.Folds > 0 {
		fmt.Fprintf(stdout, "cross-validated on the training data (%d folds): accuracy %.3f, macro-F1 %.3f, ECE %.3f\n",
			info.Folds, info.CVAccuracy, info.CVMacroF1, info.CVECE)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	size, err := writeModel(*out, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d KiB)\n", *out, (size+1023)/1024)
	return nil
}

// writeModel saves m to path through a temporary file in the same
// directory, so that a reader never sees half a model.
func writeModel(path string, m *classify.Model) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return 0, fmt.Errorf("classify train: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // fails harmlessly after the rename
	err = tmp.Chmod(0o644)                       // CreateTemp makes it private; a model is no secret
	if err == nil {
		err = m.Save(tmp)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	var size int64
	if err == nil {
		var st os.FileInfo
		if st, err = os.Stat(tmp.Name()); err == nil {
			size = st.Size()
			err = os.Rename(tmp.Name(), path)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("classify train: write %s: %w", path, err)
	}
	return size, nil
}

func classifyEval(ctx context.Context, args []string, stdout io.Writer, config func() (Config, error)) error {
	fs := flag.NewFlagSet("classify eval", flag.ContinueOnError)
	modelPath := fs.String("model", "", "model file written by classify train")
	in := fs.String("in", "", "labelled examples (CSV: text,label)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	fromStore := fs.Bool("from-store", false, "compare with the model in service on the store's most recent month")
	against := fs.String("against", "", "with --from-store: the model in service (default: classifier_model, else the demo model)")
	install := fs.Bool("install", false, "with --from-store: put the model in service (over --against) if it is better")
	required := []string{"model", "in"}
	if slices.Contains(args, "--from-store") || slices.Contains(args, "-from-store") {
		required = []string{"model"}
	}
	if err := parseClassifyFlags(fs, args, required...); err != nil {
		return err
	}
	if *fromStore {
		cfg, err := config()
		if err != nil {
			return err
		}
		return evalFromStore(ctx, cfg, *modelPath, *against, *install, stdout)
	}
	m, err := readModel(*modelPath)
	if err != nil {
		return err
	}
	ex, err := readExamples(*in)
	if err != nil {
		return err
	}
	if len(ex) == 0 {
		return fmt.Errorf("classify eval: %s has no examples", *in)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := classify.Evaluate(m, ex)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	printReport(stdout, r)
	return nil
}

func printReport(w io.Writer, r classify.Report) {
	fmt.Fprintf(w, "examples  %d\naccuracy  %.3f\nmacro-F1  %.3f\nECE       %.3f\nlog-loss  %.3f\n\n",
		r.N, r.Accuracy, r.MacroF1, r.ECE, r.LogLoss)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "label\tprecision\trecall\tF1\tsupport\t\n")
	for _, l := range r.Labels {
		c := r.PerClass[l]
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%d\t\n", l, c.Precision, c.Recall, c.F1, c.Support)
	}
	tw.Flush()
	fmt.Fprint(w, "\nconfusion matrix (rows: true label, columns: predicted label)\n")
	tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "\t")
	for _, l := range r.Labels {
		fmt.Fprintf(tw, "%s\t", l)
	}
	fmt.Fprint(tw, "\n")
	for i, l := range r.Labels {
		fmt.Fprintf(tw, "%s\t", l)
		for _, n := range r.Confusion[i] {
			fmt.Fprintf(tw, "%d\t", n)
		}
		fmt.Fprint(tw, "\n")
	}
	tw.Flush()
}

func classifyPredict(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("classify predict", flag.ContinueOnError)
	modelPath := fs.String("model", "", "model file written by classify train")
	text := fs.String("text", "", "message to classify")
	k := fs.Int("k", 3, "number of labels to print")
	if err := parseClassifyFlags(fs, args, "model", "text"); err != nil {
		return err
	}
	if *k < 1 {
		return fmt.Errorf("classify predict: --k must be at least 1")
	}
	m, err := readModel(*modelPath)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, p := range m.Predict(*text, *k) {
		fmt.Fprintf(tw, "%s\t%.3f\n", p.Label, p.P)
	}
	return tw.Flush()
}

func readExamples(path string) ([]classify.Example, error) { return parseFile(path, classify.ReadCSV) }

func readModel(path string) (*classify.Model, error) { return parseFile(path, classify.Load) }
