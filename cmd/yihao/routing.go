package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/yihao-city/yihao/configs"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/routing/classify"
	"github.com/yihao-city/yihao/routing/grid"
)

// routingFiles are the files routing is built from; an empty path means
// the demo city's embedded copy (the grid: DATA_DIR/grid.geojson when
// `yihao grid import` has written one).
type routingFiles struct {
	catalogue, model, grid, gazetteer string
}

func routingFilesOf(cfg Config) routingFiles {
	f := routingFiles{catalogue: cfg.Catalogue, model: cfg.ClassifierModel, grid: cfg.Grid, gazetteer: cfg.Gazetteer}
	if f.grid == "" {
		if p := filepath.Join(cfg.DataDir, "grid.geojson"); fileExists(p) {
			f.grid = p
		}
	}
	return f
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// read returns a file's bytes, or the embedded default when path is empty.
func read(path string, embedded []byte) ([]byte, error) {
	if path == "" {
		return embedded, nil
	}
	return os.ReadFile(path)
}

// loadRouting builds a router and the catalogue it came from. Every error
// names the file.
func loadRouting(f routingFiles) (*routing.Router, *routing.Catalogue, error) {
	b, err := read(f.catalogue, configs.DemoCatalogue)
	if err != nil {
		return nil, nil, err
	}
	cat, err := routing.LoadCatalogue(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", nameOf(f.catalogue, "demo catalogue"), err)
	}
	var opts []routing.Option
	if f.model != "off" {
		b, err := read(f.model, configs.DemoModel)
		if err != nil {
			return nil, nil, err
		}
		m, err := classify.Load(bytes.NewReader(b))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", nameOf(f.model, "demo model"), err)
		}
		opts = append(opts, routing.WithClassifier(m))
	}
	if f.grid != "off" {
		ix, err := loadGrid(f)
		if err != nil {
			return nil, nil, err
		}
		b, err := read(f.gazetteer, configs.DemoGazetteer)
		if err != nil {
			return nil, nil, err
		}
		gz, err := grid.LoadGazetteer(bytes.NewReader(b), ix)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", nameOf(f.gazetteer, "demo gazetteer"), err)
		}
		opts = append(opts, routing.WithGrid(ix, gz))
	}
	r, err := routing.NewRouter(cat, opts...)
	if err != nil {
		return nil, nil, err
	}
	return r, cat, nil
}

// loadGrid reads the unit grid (the demo city's when none is given); the
// caller decides what a grid that is off means.
func loadGrid(f routingFiles) (*grid.Index, error) {
	b, err := read(f.grid, configs.DemoGrid)
	if err != nil {
		return nil, err
	}
	ix, err := grid.Load(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nameOf(f.grid, "demo grid"), err)
	}
	return ix, nil
}

// parseFile opens path and parses it; errors name the file.
func parseFile[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

func nameOf(path, embedded string) string {
	if path == "" {
		return embedded
	}
	return path
}

// watchRouting reloads routing on SIGHUP and whenever one of its files
// changes; a broken file is logged and the routing in force stays.
func watchRouting(ctx context.Context, live *routing.Live, f routingFiles, every time.Duration, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	stamp := func() string {
		s := ""
		for _, p := range []string{f.catalogue, f.model, f.grid, f.gazetteer} {
			if fi, err := os.Stat(p); err == nil {
				s += fmt.Sprint(p, fi.ModTime().UnixNano(), fi.Size())
			}
		}
		return s
	}
	last := stamp()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		case <-tick.C:
			s := stamp()
			if s == last {
				continue
			}
			last = s
		}
		if err := live.Reload(); err != nil {
			log.Error("routing reload failed; the previous configuration stays in force", "err", err)
			continue
		}
		log.Info("routing reloaded")
	}
}
