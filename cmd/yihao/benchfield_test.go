package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// yihao bench field drives a real server as the supervisors' phones do:
// every position and task list of a supervisor's token answered 200, a
// revoked or made-up token counted as a failure with its status.
func TestBenchField(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	env := map[string]string{"YIHAO_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"user", "add", "--name", "sup.wang", "--role", "supervisor", "--area", "110101001001",
		"--password", "a long enough password"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("user add: %v %s", err, errOut.String())
	}
	out.Reset()
	if err := run(ctx, []string{"token", "create", "--user", "sup.wang", "--name", "phone"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("token create: %v %s", err, errOut.String())
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(strings.TrimSpace(out.String())+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := e2eStart(ctx, t, env)
	bench := func(file string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(ctx, []string{"bench", "field", "--url", srv.base, "--tokens", file, "--n", "40", "--tasks", "10", "--c", "4"},
			getenv, &out, &errOut); err != nil {
			t.Fatalf("bench field: %v %s", err, errOut.String())
		}
		return out.String()
	}
	got := bench(tokens)
	for _, want := range []string{"positions: 40 from 1 supervisors", "acknowledged  40", "task lists: 10 from 1 supervisors", "acknowledged  10"} {
		if !strings.Contains(got, want) {
			t.Errorf("bench field said:\n%s\nwant %q", got, want)
		}
	}
	if strings.Contains(got, "failures") {
		t.Errorf("failures with a supervisor's token:\n%s", got)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("yh_notatoken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := bench(bad); !strings.Contains(got, "acknowledged  0") || !strings.Contains(got, "401") {
		t.Errorf("bench field with a made-up token:\n%s", got)
	}
}
