package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/yihao-city/yihao/configs"
	"github.com/yihao-city/yihao/routing/classify"
	"github.com/yihao-city/yihao/ticketing"
)

// The city teaches the router: `classify train --from-store` learns from
// the city's own tickets, labelled with the category they were finally
// dispatched under (a dispatcher's correction, not routing's first guess),
// and `classify eval --from-store` holds the most recent month out to
// compare the new model with the one in service, installing it only when
// it is better.

// heldOutMonth is the month `--from-store` keeps for the comparison: the
// one before now.
func heldOutMonth(now time.Time) (from, to time.Time) { return now.AddDate(0, -1, 0), now }

// storeExamples reads the tickets received in [from, to) whose category a
// dispatch settled: a department was given, by routing or a dispatcher,
// and the text is a citizen's (a supervisor's find is named by its type,
// not described). closedOnly keeps the finished ones (the labels no one
// will change again).
func storeExamples(ctx context.Context, store ticketing.ListStore, from, to time.Time, closedOnly bool) ([]classify.Example, error) {
	var out []classify.Example
	var finished *bool
	if closedOnly {
		f := false
		finished = &f
	}
	// A day at a time: a big city's day is tens of thousands of tickets.
	for day := from; day.Before(to); day = day.Add(24 * time.Hour) {
		end := day.Add(24 * time.Hour)
		if end.After(to) {
			end = to
		}
		ts, err := store.List(ctx, ticketing.ListFilter{From: day, To: end, Open: finished, Limit: 1 << 20})
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if t.Department == "" || t.Category == "" || t.Channel == ticketing.ChannelField || t.Status == ticketing.StatusMerged {
				continue
			}
			out = append(out, classify.Example{Text: t.Text, Label: t.Category})
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// trainFromStore is `classify train --from-store`: the store's tickets
// before the held-out month (over months), with base's examples if given.
func trainFromStore(ctx context.Context, cfg Config, base, out string, months int, opts classify.Options, stdout io.Writer) error {
	store, closeStore, desc, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	holdFrom, _ := heldOutMonth(time.Now())
	from := holdFrom.AddDate(0, -months, 0)
	ex, err := storeExamples(ctx, store, from, holdFrom, true)
	if err != nil {
		return fmt.Errorf("classify train: read the store: %w", err)
	}
	fmt.Fprintf(stdout, "read %d finished tickets received %s to %s from %s, labelled as finally dispatched\n",
		len(ex), from.Format("2006-01-02"), holdFrom.Format("2006-01-02"), desc)
	if base != "" {
		b, err := readExamples(base)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "with %d examples from %s\n", len(b), base)
		ex = append(b, ex...)
	}
	if len(ex) == 0 {
		return errors.New("classify train: nothing to learn from: no finished, dispatched tickets before the held-out month")
	}
	start := time.Now()
	m, err := classify.Train(ex, opts)
	if err != nil {
		return fmt.Errorf("classify train: %w", err)
	}
	info := m.Info()
	fmt.Fprintf(stdout, "trained %s on %d examples, %d labels, in %s\n", info.Type, len(ex), len(m.Labels()), time.Since(start).Round(time.Millisecond))
	size, err := writeModel(out, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d KiB); compare it with the model in service: yihao classify eval --from-store --model %s\n", out, (size+1023)/1024, out)
	return nil
}

// evalFromStore is `classify eval --from-store`: the new model and the
// one in service on the held-out month, per class, and the verdict;
// install puts the new one in service's file when it wins on macro-F1.
func evalFromStore(ctx context.Context, cfg Config, newPath, against string, install bool, stdout io.Writer) error {
	cand, err := readModel(newPath)
	if err != nil {
		return err
	}
	if against == "" {
		against = cfg.ClassifierModel
	}
	if against == "off" {
		return errors.New("classify eval: no model is in service (classifier_model: off); give --against")
	}
	var current *classify.Model
	if against == "" {
		current, err = classify.Load(bytes.NewReader(configs.DemoModel))
	} else {
		current, err = readModel(against)
	}
	if err != nil {
		return err
	}
	store, closeStore, desc, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	from, to := heldOutMonth(time.Now())
	ex, err := storeExamples(ctx, store, from, to, false)
	if err != nil {
		return fmt.Errorf("classify eval: read the store: %w", err)
	}
	if len(ex) == 0 {
		return fmt.Errorf("classify eval: no dispatched tickets received %s to %s in %s", from.Format("2006-01-02"), to.Format("2006-01-02"), desc)
	}
	old, neu := classify.Evaluate(current, ex), classify.Evaluate(cand, ex)
	name := nameOf(against, "the demo model")
	fmt.Fprintf(stdout, "held out: %d dispatched tickets received %s to %s (labels: the category each was dispatched under)\n\n",
		len(ex), from.Format("2006-01-02"), to.Format("2006-01-02"))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tin service\tnew\t\n")
	fmt.Fprintf(tw, "accuracy\t%.3f\t%.3f\t\n", old.Accuracy, neu.Accuracy)
	fmt.Fprintf(tw, "macro-F1\t%.3f\t%.3f\t\n\n", old.MacroF1, neu.MacroF1)
	fmt.Fprintf(tw, "label\tF1 in service\tF1 new\tsupport\t\n")
	for _, l := range neu.Labels {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%d\t\n", l, old.PerClass[l].F1, neu.PerClass[l].F1, neu.PerClass[l].Support)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	better := neu.MacroF1 > old.MacroF1
	switch {
	case !better:
		fmt.Fprintf(stdout, "\nthe new model is not better (macro-F1 %.3f ≤ %.3f): %s stays in service\n", neu.MacroF1, old.MacroF1, name)
	case !install:
		fmt.Fprintf(stdout, "\nthe new model is better (macro-F1 %.3f > %.3f); --install puts it in service\n", neu.MacroF1, old.MacroF1)
	case against == "":
		return errors.New("classify eval: the demo model is built in; set classifier_model to a file to install into")
	default:
		if _, err := writeModel(against, cand); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nthe new model is better (macro-F1 %.3f > %.3f): installed as %s (servers reload it when the file changes, or on SIGHUP)\n", neu.MacroF1, old.MacroF1, against)
	}
	return nil
}
