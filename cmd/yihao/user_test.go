package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

func TestUserCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := map[string]string{"YIHAO_DATA_DIR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	cfg, err := loadConfig("", getenv)
	if err != nil {
		t.Fatal(err)
	}
	passwords := []string{"s3cret-pass-1", "pass from stdin", "new-secret-2", "short"}
	var printed strings.Builder // everything any command showed
	// cli runs a command as from the shell, with stdin.
	cli := func(stdin string, args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		var err error
		if args[0] == "user" {
			err = userCommand(ctx, cfg, args[1:], strings.NewReader(stdin), &out, &errOut)
		} else {
			err = run(ctx, args, getenv, &out, &errOut)
		}
		printed.WriteString(out.String() + errOut.String())
		if err != nil {
			printed.WriteString(err.Error())
		}
		return out.String(), err
	}
	stored := func(name string) *ticketing.User {
		t.Helper()
		store, closeStore, _, err := openStore(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer closeStore()
		u, err := store.UserByName(ctx, name)
		if err != nil {
			t.Fatalf("user %s: %v", name, err)
		}
		return u
	}
	token := func(secret string) (*ticketing.Token, error) {
		t.Helper()
		store, closeStore, _, err := openStore(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer closeStore()
		return store.TokenByHash(ctx, ticketing.HashToken(secret))
	}

	// Through run, as from the shell.
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"user", "add", "--name", "wang.fang", "--role", "agent", "--display-name", "王芳",
		"--password", "s3cret-pass-1"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("user add: %v %s", err, errOut.String())
	}
	printed.WriteString(out.String() + errOut.String())
	if got := out.String(); got != "added user wang.fang (agent)\n" {
		t.Errorf("user add printed %q", got)
	}
	u := stored("wang.fang")
	if u.Role != ticketing.RoleAgent || u.DisplayName != "王芳" || u.Department != "" || u.Disabled ||
		!ticketing.CheckPassword(u.PasswordHash, "s3cret-pass-1") {
		t.Errorf("stored user wang.fang = %+v", u)
	}
	created := u.CreatedAt

	// A liaison of a catalogue department; the password from stdin's first line.
	if got, err := cli("pass from stdin\r\nsecond line\n", "user", "add", "--name", "swj-li", "--role", "liaison",
		"--department", "swj", "--password", "-"); err != nil || got != "added user swj-li (liaison of swj)\n" {
		t.Fatalf("user add --password -: %q, %v", got, err)
	}
	if u := stored("swj-li"); u.Department != "swj" || !ticketing.CheckPassword(u.PasswordHash, "pass from stdin") {
		t.Errorf("stored user swj-li = %+v", u)
	}

	// Refused, and nothing stored.
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"--name", "x1", "--role", "agent", "--password", "short"}, "at least 10"},
		{"\n", []string{"--name", "x2", "--role", "agent", "--password", "-"}, "--password is required"},
		{"", []string{"--name", "x3", "--role", "agent"}, "--password is required"},
		{"", []string{"--name", "X4", "--role", "agent", "--password", "0123456789"}, "name"},
		{"", []string{"--name", "x5", "--role", "cti", "--password", "0123456789"}, "role"},
		{"", []string{"--name", "x6", "--role", "liaison", "--password", "0123456789"}, "needs a department"},
		{"", []string{"--name", "x7", "--role", "liaison", "--department", "nope", "--password", "0123456789"}, "not in the catalogue"},
		{"", []string{"--name", "x8", "--role", "agent", "--department", "swj", "--password", "0123456789"}, "only a liaison"},
		{"", []string{"--name", "x9", "--role", "agent", "--password", "0123456789", "extra"}, "unexpected"},
		{"", []string{"--name", "x10", "--role", "dispatcher", "--area", "999999", "--password", "0123456789"}, `"999999" is not a district, street or community`},
		{"", []string{"--name", "x11", "--role", "agent", "--area", "110101", "--password", "0123456789"}, "only a dispatcher or a supervisor belongs to an area"},
		{"", []string{"--name", "x12", "--role", "supervisor", "--area", "110101001001", "--cells", "110101001001051,110101001001999", "--password", "0123456789"}, `"110101001001999" is not a unit cell of the grid`},
		{"", []string{"--name", "x13", "--role", "supervisor", "--area", "110101001001", "--cells", "110105004004001", "--password", "0123456789"}, "cell 110105004004001 (朝阳区"},
		{"", []string{"--name", "x14", "--role", "dispatcher", "--area", "110101001", "--cells", "110101001001051", "--password", "0123456789"}, "only a supervisor has grid cells"},
	} {
		_, err := cli(tc.stdin, append([]string{"user", "add"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("user add %v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}

	// Adding again replaces role and password and keeps the creation time.
	if got, err := cli("", "user", "add", "--name", "wang.fang", "--role", "dispatcher", "--password", "new-secret-2"); err != nil ||
		got != "updated user wang.fang (dispatcher)\n" {
		t.Fatalf("user add again: %q, %v", got, err)
	}
	u = stored("wang.fang")
	if u.Role != ticketing.RoleDispatcher || u.DisplayName != "" || !u.CreatedAt.Equal(created) ||
		!ticketing.CheckPassword(u.PasswordHash, "new-secret-2") || ticketing.CheckPassword(u.PasswordHash, "s3cret-pass-1") {
		t.Errorf("after the update: %+v (created %v)", u, created)
	}

	// A token acting for the liaison, with the liaison's role.
	got, err := cli("", "token", "create", "--user", "swj-li")
	if err != nil {
		t.Fatalf("token create --user: %v", err)
	}
	secret := strings.TrimSpace(got)
	if !strings.HasPrefix(secret, ticketing.TokenPrefix) || strings.Count(got, "\n") != 1 {
		t.Fatalf("token create --user printed %q", got)
	}
	tok, err := token(secret)
	if err != nil || tok.User != "swj-li" || tok.Role != ticketing.RoleLiaison || tok.Name != "swj-li" {
		t.Fatalf("stored token = %+v, %v", tok, err)
	}
	// A department's integration token: a liaison token names its
	// department; without one (or with one not in the catalogue) nothing is
	// created, and the error says what to give.
	got, err = cli("", "token", "create", "--role", "liaison", "--department", "swj", "--name", "swj-system")
	if err != nil {
		t.Fatalf("token create --role liaison --department: %v", err)
	}
	if tok, err := token(strings.TrimSpace(got)); err != nil || tok.Department != "swj" || tok.Role != ticketing.RoleLiaison || tok.User != "" {
		t.Errorf("liaison token = %+v, %v", tok, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--role", "liaison"}, "needs --department"},
		{[]string{"--role", "liaison", "--name", "x"}, "needs --department"},
		{[]string{"--role", "liaison", "--department", "nope"}, "not in the catalogue"},
		{[]string{"--role", "admin", "--department", "swj"}, "only a liaison token"},
		{[]string{"--user", "swj-li", "--department", "swj"}, "leave out --department"},
	} {
		out, err := cli("", append([]string{"token", "create"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
			t.Errorf("token create %v: %q, %v; want no token and an error with %q", tc.args, out, err, tc.want)
		}
	}
	got, err = cli("", "token", "create", "--user", "wang.fang", "--role", "dispatcher", "--name", "desk script")
	if err != nil {
		t.Fatalf("token create --user --role (same role): %v", err)
	}
	if tok, err := token(strings.TrimSpace(got)); err != nil || tok.User != "wang.fang" || tok.Name != "desk script" ||
		tok.Role != ticketing.RoleDispatcher {
		t.Errorf("named token = %+v, %v", tok, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "nobody"}, "no user named"},
		{[]string{"--user", "swj-li", "--role", "admin"}, "not admin"},
	} {
		if _, err := cli("", append([]string{"token", "create"}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("token create %v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	// Integration tokens work as before and act for nobody.
	got, err = cli("", "token", "create", "--role", "cti", "--name", "pbx")
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := token(strings.TrimSpace(got)); err != nil || tok.User != "" || tok.Role != ticketing.RoleCTI {
		t.Errorf("integration token = %+v, %v", tok, err)
	}

	// Listing by name, without secrets.
	list, err := cli("", "user", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "swj-li") ||
		!strings.HasPrefix(lines[2], "wang.fang") {
		t.Fatalf("user list:\n%s", list)
	}
	if f := strings.Fields(lines[1]); f[1] != "liaison" || f[2] != "swj" || f[3] != "-" || f[4] != "-" || f[5] != "active" || f[len(f)-1] != "-" {
		t.Errorf("user list row %q", lines[1])
	}

	// Disabling deletes the user's tokens and refuses new ones.
	if got, err := cli("", "user", "disable", "--name", "swj-li"); err != nil || !strings.HasPrefix(got, "disabled user swj-li") {
		t.Fatalf("user disable: %q, %v", got, err)
	}
	if u := stored("swj-li"); !u.Disabled || !ticketing.CheckPassword(u.PasswordHash, "pass from stdin") {
		t.Errorf("disabled user = %+v", u)
	}
	if _, err := token(secret); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("a disabled user's token: %v, want not found", err)
	}
	if _, err := cli("", "token", "create", "--user", "swj-li"); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("token create for a disabled user: %v", err)
	}
	if got, err := cli("", "user", "disable", "--name", "swj-li"); err != nil || got != "user swj-li is already disabled\n" {
		t.Errorf("user disable again: %q, %v", got, err)
	}
	if _, err := cli("", "user", "disable", "--name", "nobody"); err == nil || !strings.Contains(err.Error(), "no user named") {
		t.Errorf("user disable unknown: %v", err)
	}
	if list, err := cli("", "user", "list"); err != nil || !strings.Contains(list, "disabled") {
		t.Errorf("user list after disabling:\n%s%v", list, err)
	}
	// A street centre's dispatcher (属地管理): the area is the catalogue's.
	if got, err := cli("", "user", "add", "--name", "adm.disp", "--role", "dispatcher", "--area", "110101001", "--password", "street-secret-1"); err != nil ||
		got != "added user adm.disp (dispatcher in 110101001)\n" {
		t.Fatalf("user add --area: %q, %v", got, err)
	}
	if u := stored("adm.disp"); u.Area != "110101001" {
		t.Errorf("stored area %q", u.Area)
	}
	if list, err := cli("", "user", "list"); err != nil || !strings.Contains(list, "110101001") {
		t.Errorf("user list lacks the area:\n%s%v", list, err)
	}
	// A supervisor of 国子监 community who walks two of its cells.
	if got, err := cli("", "user", "add", "--name", "sup.wu", "--role", "supervisor", "--area", "110101001001",
		"--cells", "110101001001051, 110101001001052", "--password", "street-secret-2"); err != nil ||
		got != "added user sup.wu (supervisor in 110101001001, 2 cells)\n" {
		t.Fatalf("user add --cells: %q, %v", got, err)
	}
	if u := stored("sup.wu"); !slices.Equal(u.Cells, []string{"110101001001051", "110101001001052"}) {
		t.Errorf("stored cells %q", u.Cells)
	}
	if list, err := cli("", "user", "list"); err != nil || !strings.Contains(list, "110101001001051,110101001001052") {
		t.Errorf("user list lacks the cells:\n%s%v", list, err)
	}
	if _, err := cli("", "user", "frobnicate"); err == nil {
		t.Error("an unknown user command succeeded")
	}

	// No command ever showed a password or a hash.
	all := printed.String()
	for _, pw := range passwords {
		if strings.Contains(all, pw) {
			t.Errorf("a command printed the password %q", pw)
		}
	}
	for _, name := range []string{"wang.fang", "swj-li"} {
		if h := stored(name).PasswordHash; strings.Contains(all, h) || strings.Contains(all, strings.Split(h, "$")[5]) {
			t.Errorf("a command printed the password hash of %s", name)
		}
	}
	if strings.Contains(all, "$argon2") {
		t.Errorf("a command printed a hash: %s", all)
	}
}

// A user from the configuration file that was disabled stays disabled
// when the server starts again (it used to be put back, enabled, at every
// start), and a password changed with `yihao user add` stays changed.
func TestConfiguredUserStaysDisabledAfterRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "yihao.yaml")
	if err := os.WriteFile(cfgPath, []byte("insecure_cookies: true\nusers:\n"+
		"  - {name: cfg.disp, role: dispatcher, password: configured-pass-1}\n"+
		"  - {name: cfg.admin, role: admin, password: configured-pass-2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"YIHAO_DATA_DIR": dir, "YIHAO_CONFIG": cfgPath}
	getenv := func(k string) string { return env[k] }
	first := e2eStart(ctx, t, env)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(cfgPath, getenv)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := userCommand(ctx, cfg, []string{"disable", "--name", "cfg.disp"}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if err := userCommand(ctx, cfg, []string{"add", "--name", "cfg.admin", "--role", "admin", "--password", "-"},
		strings.NewReader("changed-by-the-cli\n"), &out, &out); err != nil {
		t.Fatal(err)
	}
	second := e2eStart(ctx, t, env)
	signIn := func(name, pw string) int {
		t.Helper()
		cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := cl.PostForm(second.base+"/login", url.Values{"name": {name}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := signIn("cfg.disp", "configured-pass-1"); code != http.StatusUnauthorized {
		t.Errorf("the disabled configured user signs in after a restart: %d", code)
	}
	if code := signIn("cfg.admin", "configured-pass-2"); code != http.StatusUnauthorized {
		t.Errorf("the configured password came back after a restart: %d", code)
	}
	if code := signIn("cfg.admin", "changed-by-the-cli"); code != http.StatusSeeOther {
		t.Errorf("the password set by the CLI: %d, want 303", code)
	}
}
