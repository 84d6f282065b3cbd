package attacks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/channels/hotline/sipptest"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
)

// Every wait of the harness has one of these deadlines.
const (
	buildTimeout   = 4 * time.Minute  // go build of the binary (cold cache)
	startTimeout   = 60 * time.Second // the server to print its addresses
	stopTimeout    = 30 * time.Second // the server to exit after SIGTERM
	commandTimeout = 60 * time.Second // one CLI subcommand
)

// yihaoBinary is the yihao binary TestMain built for the whole suite.
var yihaoBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "yihao-attacks-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	yihaoBinary, err = build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "attacks:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles ./cmd/yihao into dir.
func build(dir string) (string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("no go.mod in %s: %w", root, err)
	}
	out := filepath.Join(dir, "yihao")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/yihao")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/yihao: %v\n%s", err, b)
	}
	return out, nil
}

// Store names the two ways Yihao runs.
const (
	SQLite   = "sqlite"   // embedded store, in-process shared state
	Postgres = "postgres" // PostgreSQL store, shared state in Redis
)

// stores are the stores every attack runs on.
var stores = []string{SQLite, Postgres}

// eachStore runs f as a subtest per store.
func eachStore(t *testing.T, f func(t *testing.T, store string)) {
	t.Helper()
	for _, store := range stores {
		t.Run(store, func(t *testing.T) { f(t, store) })
	}
}

// Server is one yihao process under attack.
type Server struct {
	Store string
	Base  string // http://127.0.0.1:PORT
	SIP   string // 127.0.0.1:PORT, UDP and TCP ("" when SIP is off)
	Dir   string // its working and data directory

	env []string
	log *syncBuffer

	mu   sync.Mutex
	proc *exec.Cmd
	done chan error
}

// Options shape a Server before it starts.
type Options struct {
	// Env holds YIHAO_* settings on top of the harness's own (address, data
	// directory, database, Redis).
	Env map[string]string
	// Config is the text of a YAML configuration file (YIHAO_CONFIG).
	Config string
	// NoSIP turns SIP off.
	NoSIP bool
	// Setup runs subcommands (users, agents, tokens) before the first start.
	Setup func(s *Server)
}

// Start prepares a server for store, runs opt.Setup, starts it and waits
// until it prints its addresses. It is stopped when the test ends.
func Start(t *testing.T, store string, opt Options) *Server {
	t.Helper()
	s := Prepare(t, store, opt)
	s.Start(t)
	return s
}

// Prepare is Start without the start: the environment, the database, the
// setup commands. Start it with s.Start.
func Prepare(t *testing.T, store string, opt Options) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{Store: store, Dir: dir, log: &syncBuffer{}}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "YIHAO_") {
			s.env = append(s.env, kv)
		}
	}
	httpPort := sipptest.FreePort(t)
	s.Base = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	set := map[string]string{
		"YIHAO_HTTP_ADDR": fmt.Sprintf("127.0.0.1:%d", httpPort),
		"YIHAO_DATA_DIR":  filepath.Join(dir, "data"),
		"YIHAO_SIP_ADDR":  "off",
	}
	if !opt.NoSIP {
		s.SIP = fmt.Sprintf("127.0.0.1:%d", sipptest.FreePort(t))
		set["YIHAO_SIP_ADDR"] = s.SIP
		set["YIHAO_SIP_ADVERTISE"] = "127.0.0.1"
	}
	switch store {
	case SQLite:
	case Postgres:
		set["YIHAO_DATABASE_URL"] = pgtest.SchemaURL(t)
		set["YIHAO_REDIS_URL"] = redisURL()
		prefix := "yihao_attacks:" + strings.ToLower(rand.Text()[:10]) + ":"
		set["YIHAO_REDIS_PREFIX"] = prefix
		t.Cleanup(func() { dropRedisPrefix(prefix) })
	default:
		t.Fatalf("unknown store %q", store)
	}
	if opt.Config != "" {
		path := filepath.Join(dir, "yihao.yaml")
		if err := os.WriteFile(path, []byte(opt.Config), 0o600); err != nil {
			t.Fatal(err)
		}
		set["YIHAO_CONFIG"] = path
	}
	for k, v := range opt.Env {
		set[k] = v
	}
	for k, v := range set {
		s.env = append(s.env, k+"="+v)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Log(err)
		}
		if t.Failed() {
			t.Logf("--- yihao (%s) log ---\n%s", store, tail(s.log.String(), 8000))
		}
	})
	if opt.Setup != nil {
		opt.Setup(s)
	}
	return s
}

// Start starts the process and waits for the line that names the citizen
// form, printed once every listener is open.
func (s *Server) Start(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		t.Fatal("server already started")
	}
	cmd := exec.Command(yihaoBinary, "serve")
	cmd.Env, cmd.Dir = s.env, s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	ready := &lineWatch{want: "citizen form:", found: make(chan struct{})}
	cmd.Stdout = io.MultiWriter(s.log, ready)
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start yihao: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	s.proc, s.done = cmd, done
	select {
	case <-ready.found:
	case err := <-done:
		s.proc = nil
		t.Fatalf("yihao exited before it was ready: %v\n%s", err, tail(s.log.String(), 4000))
	case <-time.After(startTimeout):
		t.Fatalf("yihao not ready within %v\n%s", startTimeout, tail(s.log.String(), 4000))
	}
}

// Stop sends SIGTERM and waits for the exit; past stopTimeout it kills.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	proc, done := s.proc, s.done
	s.proc, s.done = nil, nil
	_ = proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(stopTimeout):
		_ = proc.Process.Kill()
		<-done
		return fmt.Errorf("yihao did not stop within %v; killed", stopTimeout)
	}
}

// Restart stops and starts the process with the same environment.
func (s *Server) Restart(t *testing.T) {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s.Start(t)
}

// Log is everything the process printed so far.
func (s *Server) Log() string { return s.log.String() }

// Command runs a subcommand of the binary with the server's environment,
// stdin as its standard input, and returns what it printed.
func (s *Server) Command(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, yihaoBinary, args...)
	cmd.Env, cmd.Dir = s.env, s.Dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// MustCommand is Command failing the test on a non-zero exit.
func (s *Server) MustCommand(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := s.Command(stdin, args...)
	if err != nil {
		t.Fatalf("yihao %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// Token creates an API token (yihao token create ARGS...) and returns it.
func (s *Server) Token(t *testing.T, args ...string) string {
	t.Helper()
	out := s.MustCommand(t, "", append([]string{"token", "create"}, args...)...)
	fields := strings.Fields(out)
	if len(fields) == 0 {
		t.Fatalf("yihao token create %v printed nothing", args)
	}
	return fields[len(fields)-1]
}

// httpClient never follows redirects: an attack looks at the first answer.
var httpClient = &http.Client{
	Timeout:       15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Do sends one request to the server and returns the answer with its body
// read. header may be nil.
func (s *Server) Do(t *testing.T, method, path string, header http.Header, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.Base+path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, b
}

// Report files a citizen's report through the public web API and returns
// the new ticket's number and tracking token.
func (s *Server) Report(t *testing.T, text, phone string) (number, trackToken string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"text": text, "address": "东城区东华门街道",
		"contact": map[string]string{"name": "王先生", "phone": phone}})
	if err != nil {
		t.Fatal(err)
	}
	resp, b := s.Do(t, http.MethodPost, "/api/v1/reports",
		http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(body))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/reports: %d %s", resp.StatusCode, b)
	}
	var out struct {
		Number     string `json:"number"`
		TrackToken string `json:"track_token"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Number == "" {
		t.Fatalf("POST /api/v1/reports answered %s (%v)", b, err)
	}
	return out.Number, out.TrackToken
}

// Bearer is a header carrying an API token.
func Bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// Sink is a UDP socket of the test's own standing for a host an attacker
// would like the server to reach (a carrier, an internal service). Silent
// checks that nothing arrived.
type Sink struct {
	Conn *net.UDPConn
	Addr string // 127.0.0.1:PORT
}

// NewSink opens a UDP socket on loopback, closed when the test ends.
func NewSink(t *testing.T) *Sink {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Sink{Conn: c, Addr: c.LocalAddr().String()}
}

// Silent fails the test if anything arrives at the sink within wait.
func (k *Sink) Silent(t *testing.T, wait time.Duration) {
	t.Helper()
	if err := k.Conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	n, from, err := k.Conn.ReadFrom(buf)
	if err == nil {
		t.Fatalf("the sink %s received %d bytes from %s:\n%s", k.Addr, n, from, buf[:n])
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("sink: %v", err)
	}
}

// SIPExchange sends one raw SIP message over UDP from a socket of the
// test's own to the server and returns the first final (non-1xx) answer's
// status line, or "" when none came within wait. The message's
// {{local}} is replaced by the socket's address (for Via and Contact).
func (s *Server) SIPExchange(t *testing.T, msg string, wait time.Duration) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg = strings.ReplaceAll(msg, "{{local}}", c.LocalAddr().String())
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	to, err := net.ResolveUDPAddr("udp", s.SIP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	buf := make([]byte, 65535)
	for {
		if err := c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return ""
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if strings.HasPrefix(line, "SIP/2.0 1") {
			continue
		}
		return line
	}
}

// redisURL is the Redis the PostgreSQL runs share state through.
func redisURL() string {
	if u := os.Getenv("YIHAO_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// dropRedisPrefix deletes the keys a run left under prefix.
func dropRedisPrefix(prefix string) {
	opt, err := goredis.ParseURL(redisURL())
	if err != nil {
		return
	}
	rdb := goredis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) > 0 {
		_ = rdb.Del(ctx, keys...).Err()
	}
}

// syncBuffer is a log the process's output goroutines write concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWatch closes found when a complete line containing want was written.
type lineWatch struct {
	want    string
	found   chan struct{}
	pending []byte
	seen    bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	if w.seen {
		return len(p), nil
	}
	w.pending = append(w.pending, p...)
	sc := bufio.NewScanner(bytes.NewReader(w.pending))
	for sc.Scan() {
		if strings.Contains(sc.Text(), w.want) {
			w.seen = true
			close(w.found)
			break
		}
	}
	if i := bytes.LastIndexByte(w.pending, '\n'); i >= 0 {
		w.pending = w.pending[i+1:]
	}
	return len(p), nil
}

// tail is the end of s, for a failure message.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
