package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
)

// Hotspots found in a year of generated history, in PostgreSQL, against
// what the generator planted on top of it (bursts within a day, runs over
// a week, slow builds over a month, in cells whose everyday load differs
// a few ten times): the replayed scans find at least nine in ten of them,
// and at least nine in ten of what they find was planted.
func TestHotspotsPlanted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	url := pgtest.SchemaURL(t)
	dir := t.TempDir()
	env := map[string]string{"YIHAO_DATABASE_URL": url, "YIHAO_DATA_DIR": dir}
	cli := yihaoCLI(ctx, t, env)
	truth := filepath.Join(dir, "planted.csv")
	cli("gen", "--tickets", "30000", "--months", "12", "--batch", "10000", "--hotspots", "15", "--truth", truth)
	out := cli("hotspots", "eval", "--truth", truth)
	t.Logf("hotspots eval:\n%s", out)
	figure := func(name string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + name + ` +([0-9.]+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %s in:\n%s", name, out)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	if p, r := figure("precision"), figure("recall"); p < 0.9 || r < 0.9 {
		t.Errorf("precision %.3f, recall %.3f; want both at least 0.9", p, r)
	}
	if !strings.Contains(out, "planted 15,") {
		t.Errorf("eval read the wrong truth:\n%s", out)
	}
	// The live list: the last week's scan names what it finds by category and cell.
	if scan := cli("hotspots", "scan", "--window", "week"); !strings.Contains(scan, "hotspots in the week to") {
		t.Errorf("scan said:\n%s", scan)
	}
}
