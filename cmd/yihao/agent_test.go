package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

func TestAgentCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	env := map[string]string{"YIHAO_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	cfg, err := loadConfig("", getenv)
	if err != nil {
		t.Fatal(err)
	}
	// agent runs a command with stdin; the output must never show a secret.
	agent := func(stdin string, args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := agentCommand(ctx, cfg, args, strings.NewReader(stdin), &out, &errOut)
		all := out.String() + errOut.String()
		if err != nil {
			all += err.Error()
		}
		for _, secret := range []string{"s3cret-wangfang", "pass from stdin", "new-secret-wf", ticketing.HA1("2001", "yihao", "s3cret-wangfang"),
			ticketing.HA1("2002", "yihao", "pass from stdin"), ticketing.HA1("2001", "yihao", "new-secret-wf")} {
			if strings.Contains(all, secret) {
				t.Errorf("agent %v printed a secret: %q", args, all)
			}
		}
		return out.String(), err
	}
	stored := func(ext string) *ticketing.Agent {
		t.Helper()
		store, closeStore, _, err := openStore(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer closeStore()
		a, err := store.AgentByExt(ctx, ext)
		if err != nil {
			t.Fatalf("agent %s: %v", ext, err)
		}
		return a
	}

	// Through run, as from the shell.
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"agent", "add", "--ext", "2001", "--password", "s3cret-wangfang", "--name", "王芳", "--skills", "12345, 12319"},
		getenv, &out, &errOut); err != nil {
		t.Fatalf("agent add: %v %s", err, errOut.String())
	}
	if got := out.String(); got != "added agent 2001 (realm yihao)\n" {
		t.Errorf("agent add printed %q", got)
	}
	a := stored("2001")
	if a.HA1 != ticketing.HA1("2001", "yihao", "s3cret-wangfang") || a.Realm != "yihao" || a.Name != "王芳" ||
		strings.Join(a.Skills, ",") != "12345,12319" {
		t.Errorf("stored agent 2001 = %+v", a)
	}

	// The password from the first line of stdin; no skills means every line.
	if got, err := agent("pass from stdin\r\nsecond line\n", "add", "--ext", "2002", "--password", "-"); err != nil || got != "added agent 2002 (realm yihao)\n" {
		t.Fatalf("agent add --password -: %q, %v", got, err)
	}
	if a := stored("2002"); a.HA1 != ticketing.HA1("2002", "yihao", "pass from stdin") || len(a.Skills) != 0 {
		t.Errorf("stored agent 2002 = %+v", a)
	}

	// Adding again replaces the password and keeps the creation time.
	created := stored("2001").CreatedAt
	if got, err := agent("", "add", "--ext", "2001", "--password", "new-secret-wf", "--name", "王芳"); err != nil || !strings.HasPrefix(got, "updated agent 2001") {
		t.Fatalf("agent add again: %q, %v", got, err)
	}
	if a := stored("2001"); a.HA1 != ticketing.HA1("2001", "yihao", "new-secret-wf") || !a.CreatedAt.Equal(created) || len(a.Skills) != 0 {
		t.Errorf("agent 2001 after the update = %+v (created %v)", a, created)
	}

	list, err := agent("", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "EXT") || !strings.HasPrefix(lines[1], "2001") || !strings.Contains(lines[1], "王芳") ||
		!strings.HasPrefix(lines[2], "2002") || !strings.Contains(lines[2], "(all)") {
		t.Errorf("agent list =\n%s", list)
	}

	if got, err := agent("", "remove", "--ext", "2001"); err != nil || got != "removed agent 2001\n" {
		t.Fatalf("agent remove: %q, %v", got, err)
	}
	if list, _ := agent("", "list"); strings.Contains(list, "2001") || !strings.Contains(list, "2002") {
		t.Errorf("agent list after remove =\n%s", list)
	}
	if _, err := agent("", "remove", "--ext", "2001"); err == nil || !strings.Contains(err.Error(), "no agent") {
		t.Errorf("removing twice: %v", err)
	}

	for name, args := range map[string][]string{
		"no password":     {"add", "--ext", "2003"},
		"empty stdin":     {"add", "--ext", "2003", "--password", "-"},
		"bad ext":         {"add", "--ext", "20a3", "--password", "good-password-x"},
		"no ext":          {"add", "--password", "good-password-x"},
		"space in skill":  {"add", "--ext", "2003", "--password", "good-password-x", "--skills", "12345,热 线"},
		"remove no ext":   {"remove"},
		"unknown command": {"fire", "--ext", "2002"},
		"no command":      {},
	} {
		if _, err := agent("", args...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := agent("", "add", "--ext", "20a3", "--password", "good-password-x"); !errors.Is(err, ticketing.ErrInvalid) {
		t.Errorf("bad ext: %v, want an invalid-input error", err)
	}
	// Weak passwords: refused with the problem named, and nothing stored.
	for pw, want := range map[string]string{
		"short":          "at least 10 characters",
		"13800138000":    "digits only",
		"agent-2003-pw":  "contain the extension",
		"xxxxxxxxxxxxxx": "repeat one character",
		"Password123":    "commonest",
	} {
		_, err := agent(pw+"\n", "add", "--ext", "2003", "--password", "-")
		if !errors.Is(err, ticketing.ErrInvalid) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), pw) {
			t.Errorf("agent add with %q: %v, want an error saying %q", pw, err, want)
		}
	}
	if list, _ := agent("", "list"); strings.Contains(list, "2003") {
		t.Errorf("a refused agent was stored:\n%s", list)
	}
}

// The realm comes from the configuration's sip section.
func TestAgentRealmFromConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	path := filepath.Join(dir, "yihao.yaml")
	if err := os.WriteFile(path, []byte("data_dir: "+dir+"\nsip:\n  realm: hotline.example.gov.cn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"--config", path, "agent", "add", "--ext", "2001", "--password", "hotline-pw-1"}, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("agent add: %v %s", err, errOut.String())
	}
	cfg, err := loadConfig(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	a, err := store.AgentByExt(ctx, "2001")
	if err != nil || a.Realm != "hotline.example.gov.cn" || a.HA1 != ticketing.HA1("2001", "hotline.example.gov.cn", "hotline-pw-1") {
		t.Errorf("agent = %+v, %v", a, err)
	}
	// Without a sip section the realm is the default.
	if cfg, err := loadConfig("", func(string) string { return "" }); err != nil || cfg.SIP.Realm != "yihao" {
		t.Errorf("default realm = %q, %v", cfg.SIP.Realm, err)
	}
}
