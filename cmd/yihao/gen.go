package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/yihao-city/yihao/internal/historygen"
)

// runGen runs `yihao gen --tickets N`: fills PostgreSQL with a city's
// worth of history for measuring the desks (BENCHMARKS.md). Each ticket
// walks the real workflow methods from its report to where its age has got
// it (old ones closed and rated, recent ones still with their department),
// so the statuses, deadlines and indicator sums are those the running
// system would have written. Events are kept for open tickets only.
func runGen(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	var g historygen.Config
	fs := flag.NewFlagSet("yihao gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&g.Tickets, "tickets", 100000, "number of tickets to generate")
	fs.IntVar(&g.Months, "months", 12, "spread them over this many months up to now")
	fs.Uint64Var(&g.Seed, "seed", 1, "random seed (the same seed gives the same city)")
	fs.IntVar(&g.Batch, "batch", 50000, "tickets per COPY transaction")
	fs.IntVar(&g.Hotspots, "hotspots", 0, "recurring problems to plant on top (extra reports of one category in one cell, within a day, a week or a month)")
	truth := fs.String("truth", "", "with --hotspots: write what was planted here (CSV), for yihao hotspots eval")
	texts := fs.String("texts", "", "citizens' messages with their categories (CSV: text,label), spoken in the generated city's words and routed by the model in service; dispatchers correct what it gets wrong")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *texts != "" {
		ex, err := readExamples(*texts)
		if err != nil {
			return err
		}
		if len(ex) < 2 {
			return fmt.Errorf("gen: %s: at least two messages are needed", *texts)
		}
		for _, e := range ex {
			g.Texts = append(g.Texts, historygen.Text{Text: e.Text, Category: e.Label})
		}
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("gen: unexpected arguments %q", fs.Args())
	case g.Tickets < 1:
		return errors.New("gen: --tickets must be at least 1")
	case g.Months < 1 || g.Months > 120:
		return errors.New("gen: --months must be 1 to 120")
	case g.Batch < 1:
		return errors.New("gen: --batch must be at least 1")
	case cfg.DatabaseURL == "":
		return errors.New("gen: needs PostgreSQL (database_url or YIHAO_DATABASE_URL); the embedded store is not for tens of millions of tickets")
	}
	g.Now = time.Now()
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	bulk, ok := store.(historygen.Store)
	if !ok {
		return errors.New("gen: this store has no bulk loader")
	}
	gen, err := newGenerator(routingFilesOf(cfg), g)
	if err != nil {
		return err
	}
	start := time.Now()
	n, err := gen.Run(ctx, bulk, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generated %d tickets in %s\n", n, time.Since(start).Round(time.Second))
	if *truth != "" {
		if err := writePlanted(*truth, gen.Planted()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "planted %d hotspots, listed in %s\n", len(gen.Planted()), *truth)
	}
	return nil
}

// newGenerator loads the routing files and the grid the history is placed on.
func newGenerator(files routingFiles, g historygen.Config) (*historygen.Generator, error) {
	router, cat, err := loadRouting(files)
	if err != nil {
		return nil, err
	}
	if files.grid == "off" {
		return nil, errors.New("gen: needs a grid to place tickets on")
	}
	ix, err := loadGrid(files)
	if err != nil {
		return nil, err
	}
	return historygen.New(router, cat, ix, g)
}
