package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// benchDesks runs `yihao bench desks`: signs in as a member of staff, the
// way a browser does, and times the pages a desk loads all day (the
// liaison's inbox, the monthly indicators), as many times as asked, from
// c clients at once. Every response must be 200; the figures are whole
// requests as the browser sees them (query, template, transfer).
func benchDesks(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("yihao bench desks", flag.ContinueOnError)
	fs.SetOutput(stdout)
	base := fs.String("url", "http://127.0.0.1:8080", "base URL of a running server")
	user := fs.String("user", "", "staff login name")
	password := fs.String("password", "", "its password (default: $YIHAO_BENCH_PASSWORD)")
	n := fs.Int("n", 500, "requests per page")
	c := fs.Int("c", 4, "concurrent clients")
	var paths multiFlag
	fs.Var(&paths, "page", "page to time (repeatable; default /desk/inbox and /desk/indicators?period=month)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *password == "" {
		*password = os.Getenv("YIHAO_BENCH_PASSWORD")
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("bench desks: unexpected arguments %q", fs.Args())
	case *user == "" || *password == "":
		return errors.New("bench desks: --user and --password (or $YIHAO_BENCH_PASSWORD) are required")
	case *n < 1 || *c < 1:
		return errors.New("bench desks: --n and --c must be at least 1")
	}
	if len(paths) == 0 {
		paths = multiFlag{"/desk/inbox", "/desk/indicators?period=month"}
	}
	b := strings.TrimRight(*base, "/")
	clients := make([]*http.Client, *c)
	for i := range clients {
		cl, err := signIn(ctx, b, *user, *password)
		if err != nil {
			return err
		}
		clients[i] = cl
	}
	for _, p := range paths {
		fmt.Fprintf(stdout, "page %s\n", p)
		timed(ctx, stdout, *c, *n, func(i int) (int, error) {
			return getStatus(ctx, clients[i%len(clients)], b+p)
		})
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

var csrfField = regexp.MustCompile(`name="csrf"\s+value="([^"]+)"`)

// signIn returns a client holding a desk session for user.
func signIn(ctx context.Context, base, user, password string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"name": {user}, "password": {password}}
	// A sign-in form may carry a token of its own (login CSRF).
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/login", nil)
	if resp, err := cl.Do(req); err == nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if m := csrfField.FindSubmatch(body); m != nil {
			form.Set("csrf", string(m[1]))
		}
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench desks: sign in: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench desks: sign in as %q: HTTP %d", user, resp.StatusCode)
	}
	u, _ := url.Parse(base)
	if len(jar.Cookies(u)) == 0 {
		return nil, fmt.Errorf("bench desks: sign in as %q: no session (wrong password?)", user)
	}
	return cl, nil
}

func getStatus(ctx context.Context, cl *http.Client, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}
