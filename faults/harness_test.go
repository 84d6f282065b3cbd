package faults

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// Every wait of the harness has one of these deadlines.
const (
	buildTimeout    = 4 * time.Minute  // go build of the yihao binary (cold cache)
	initdbTimeout   = 90 * time.Second // initdb
	serviceTimeout  = 60 * time.Second // a server (PostgreSQL, Redis, Yihao) to answer after start
	shutdownTimeout = 30 * time.Second // a server to exit after its stop signal
)

// freePort returns a TCP port of 127.0.0.1 that nothing listened on a
// moment ago. It is drawn below Linux's ephemeral range (32768 and up), so
// that no outgoing connection takes it while its server is down during a
// fault: a restarted server gets its port back.
func freePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		n, err := rand.Int(rand.Reader, big.NewInt(12000))
		if err != nil {
			t.Fatal(err)
		}
		port := 20000 + int(n.Int64())
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			return port
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// sharedDir makes dir and its parent (t.TempDir's own, mode 0700)
// traversable, so that PostgreSQL running as its own user reaches the data
// directory inside.
func sharedDir(t testing.TB, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatalf("chmod %s: %v", d, err)
		}
	}
}

// child is a server process started by the suite. It dies with the test
// binary (SIGKILL, or sig for PostgreSQL, on the parent's death), so a run
// cut short leaves nothing listening.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

func startChild(name string, cmd *exec.Cmd, deathSig syscall.Signal, out io.Writer) (*child, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = deathSig
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits for the exit; past shutdownTimeout it kills.
func (c *child) stop(sig os.Signal) error {
	if c.exited() {
		return nil
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
		return nil
	case <-time.After(shutdownTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not stop within %v of %v; killed", c.name, shutdownTimeout, sig)
	}
}

// kill is kill -9, waiting for the process to be gone.
func (c *child) kill() error {
	if c.exited() {
		return nil
	}
	if err := c.cmd.Process.Kill(); err != nil {
		return err
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(shutdownTimeout):
		return fmt.Errorf("%s did not die within %v of SIGKILL", c.name, shutdownTimeout)
	}
}

// waitFor polls ready every 100 ms until it succeeds, c exits, or timeout
// passes.
func waitFor(c *child, timeout time.Duration, ready func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = ready(ctx)
		cancel()
		if last == nil {
			return nil
		}
		if c != nil && c.exited() {
			return fmt.Errorf("%s exited (%v) before it was ready: %v", c.name, c.err, last)
		}
		if time.Now().After(deadline) {
			if c != nil {
				return fmt.Errorf("%s not ready within %v: %v", c.name, timeout, last)
			}
			return fmt.Errorf("not ready within %v: %v", timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logFile opens path for appending: every start of a server writes on.
func logFile(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// tail is the end of the file at path, for a failure's log.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// showLogOnFailure prints the end of a server's log when t fails.
func showLogOnFailure(t testing.TB, name, path string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- end of %s's log (%s) ---\n%s", name, path, tail(path, 6000))
		}
	})
}

// ---------------------------------------------------------------- PostgreSQL

// postgresBinDir finds the server's binaries: the newest
// /usr/lib/postgresql/N/bin, else the directory of initdb on PATH.
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dirs[i])), 64)
		vj, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dirs[j])), 64)
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb) in /usr/lib/postgresql/*/bin or on PATH")
}

// postgresUser is the credential PostgreSQL runs under: the postgres user
// when the suite runs as root (the server refuses root), else nil.
func postgresUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres user: %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Postgres is a PostgreSQL cluster of the suite's own: made by initdb in a
// temporary directory, trust authentication, listening on 127.0.0.1:Port
// and a socket in its directory.
type Postgres struct {
	Port int

	bin, data, sock, dir string
	cred                 *syscall.Credential
	logPath              string
	log                  *os.File

	mu   sync.Mutex
	proc *child
}

// initPostgres runs initdb in dir; the server is not started.
func initPostgres(t testing.TB, dir string) (*Postgres, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := postgresUser()
	if err != nil {
		return nil, err
	}
	p := &Postgres{bin: bin, dir: dir, data: filepath.Join(dir, "pgdata"), sock: filepath.Join(dir, "pgsock"),
		cred: cred, logPath: filepath.Join(dir, "postgres.log")}
	for _, d := range []string{p.data, p.sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), initdbTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", p.data, "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return p, nil
}

// URL is the postgres:// URL of database db.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=5", p.Port, db)
}

// start starts the postmaster as a child and waits until it takes
// connections. With newPort, a port taken meanwhile by someone else is
// retried with another (a restart keeps its port: clients know it).
func (p *Postgres) start(t testing.TB, newPort bool) error {
	if p.log == nil {
		p.log = logFile(t, p.logPath)
	}
	var err error
	for try := 0; try < 3; try++ {
		if p.Port == 0 || (newPort && try > 0) {
			p.Port = freePort(t)
		}
		cmd := exec.Command(filepath.Join(p.bin, "postgres"), "-D", p.data, "-p", strconv.Itoa(p.Port),
			"-k", p.sock, "-c", "listen_addresses=127.0.0.1")
		cmd.Dir = p.dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
		// SIGQUIT is PostgreSQL's immediate shutdown.
		var proc *child
		proc, err = startChild("postgres", cmd, syscall.SIGQUIT, p.log)
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.proc = proc
		p.mu.Unlock()
		if err = waitFor(proc, serviceTimeout, p.ping); err == nil {
			return nil
		}
		_ = proc.kill()
		if !newPort || !strings.Contains(tail(p.logPath, 2000), "could not bind") {
			break
		}
	}
	return err
}

func (p *Postgres) ping(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// stop shuts the server down in mode "fast" (SIGINT: open transactions
// rolled back, sessions ended, a checkpoint) or "immediate" (SIGQUIT).
func (p *Postgres) stop(mode string) error {
	p.mu.Lock()
	proc := p.proc
	p.mu.Unlock()
	if proc == nil {
		return nil
	}
	sig := syscall.SIGINT
	if mode == "immediate" {
		sig = syscall.SIGQUIT
	}
	return proc.stop(sig)
}

// restartFast is pg_ctl restart -m fast on the same port: a fast shutdown,
// down for a while (a real server takes its time to come back: recovery,
// a larger cache), then a start that waits until connections are taken.
// It returns how long the server was away.
func (p *Postgres) restartFast(t testing.TB, down time.Duration) (time.Duration, error) {
	begin := time.Now()
	if err := p.stop("fast"); err != nil {
		return 0, err
	}
	time.Sleep(down)
	if err := p.start(t, false); err != nil {
		return 0, err
	}
	return time.Since(begin), nil
}

// createDB creates database name.
func (p *Postgres) createDB(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}

// ---------------------------------------------------------------- Redis

// Redis is a redis-server of the suite's own, without persistence.
type Redis struct {
	Port int

	bin, dir string
	log      *os.File

	mu   sync.Mutex
	proc *child
}

func startRedis(t testing.TB, dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("no redis-server on PATH")
	}
	path := filepath.Join(dir, "redis.log")
	r := &Redis{bin: bin, dir: dir, log: logFile(t, path)}
	showLogOnFailure(t, "redis", path)
	for try := 0; try < 3; try++ {
		r.Port = freePort(t)
		if err = r.start(); err == nil {
			return r, nil
		}
	}
	return nil, err
}

// start starts redis-server on r.Port and waits until it answers.
func (r *Redis) start() error {
	fmt.Fprintf(r.log, "=== faults: start of redis-server on :%d at %s\n", r.Port, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--daemonize", "no", "--dir", r.dir)
	cmd.Dir = r.dir
	proc, err := startChild("redis-server", cmd, syscall.SIGKILL, r.log)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.proc = proc
	r.mu.Unlock()
	if err := waitFor(proc, serviceTimeout, r.ping); err != nil {
		_ = proc.kill()
		return err
	}
	return nil
}

// stop is a shutdown of the server (SIGTERM; no persistence, so what it
// held is gone when it starts again).
func (r *Redis) stop() error {
	r.mu.Lock()
	proc := r.proc
	r.mu.Unlock()
	if proc == nil {
		return nil
	}
	fmt.Fprintf(r.log, "=== faults: stop of redis-server at %s\n", time.Now().Format(time.RFC3339Nano))
	return proc.stop(syscall.SIGTERM)
}

// URL is the redis:// URL of database 0.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

func (r *Redis) ping(ctx context.Context) error {
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.Port), MaxRetries: -1})
	defer c.Close()
	return c.Ping(ctx).Err()
}

// ---------------------------------------------------------------- Yihao

// moduleRoot is the directory of go.mod above the package's directory (go
// test runs a package's tests in its own directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// buildYihao builds ./cmd/yihao into dir and returns the binary's path.
func buildYihao(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build yihao: %w", err)
	}
	out := filepath.Join(dir, "yihao")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "./cmd/yihao")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/yihao: %v\n%s", err, b)
	}
	return out, nil
}

// Instance is one yihao server, started, killed and restarted with the
// same environment and address.
type Instance struct {
	Name string
	Base string // http://127.0.0.1:PORT

	bin     string
	env     []string
	dir     string
	logPath string
	log     *os.File

	mu    sync.Mutex
	proc  *child
	start int // starts so far
}

// newInstance prepares an instance serving HTTP on a free port, with the
// given YIHAO_* settings on top of a clean environment.
func newInstance(t testing.TB, name, bin, dir string, settings map[string]string) *Instance {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "YIHAO_") {
			env = append(env, kv)
		}
	}
	env = append(env, "YIHAO_HTTP_ADDR="+addr, "YIHAO_DATA_DIR="+filepath.Join(dir, "data"))
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	in := &Instance{Name: name, Base: "http://" + addr, bin: bin, env: env, dir: dir,
		logPath: filepath.Join(dir, name+".log")}
	in.log = logFile(t, in.logPath)
	showLogOnFailure(t, name, in.logPath)
	t.Cleanup(func() {
		if err := in.Stop(); err != nil {
			t.Log(err)
		}
	})
	return in
}

// Start starts the process and waits until /readyz answers 200.
func (in *Instance) Start() error {
	in.mu.Lock()
	in.start++
	fmt.Fprintf(in.log, "=== faults: start #%d of %s at %s\n", in.start, in.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(in.bin, "serve")
	cmd.Env, cmd.Dir = in.env, in.dir
	proc, err := startChild(in.Name, cmd, syscall.SIGKILL, in.log)
	in.proc = proc
	in.mu.Unlock()
	if err != nil {
		return err
	}
	return waitFor(proc, serviceTimeout, in.Ready)
}

// Command is a subcommand of the instance's binary (yihao token create
// ...) with its environment: its database, its configuration.
func (in *Instance) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, in.bin, args...)
	cmd.Env, cmd.Dir = in.env, in.dir
	return cmd
}

// Kill is kill -9.
func (in *Instance) Kill() error {
	in.mu.Lock()
	proc := in.proc
	in.mu.Unlock()
	if proc == nil {
		return nil
	}
	fmt.Fprintf(in.log, "=== faults: kill -9 %s at %s\n", in.Name, time.Now().Format(time.RFC3339Nano))
	return proc.kill()
}

// Stop is SIGTERM: requests in flight finish, then the process exits.
func (in *Instance) Stop() error {
	in.mu.Lock()
	proc := in.proc
	in.mu.Unlock()
	if proc == nil {
		return nil
	}
	return proc.stop(syscall.SIGTERM)
}

// Exited reports whether the process has gone (killed, crashed).
func (in *Instance) Exited() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.proc == nil || in.proc.exited()
}

var probeClient = &http.Client{Timeout: 3 * time.Second}

// Ready is nil when GET /readyz answers 200.
func (in *Instance) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.Base+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// WaitReady waits until /readyz answers 200, up to timeout.
func (in *Instance) WaitReady(timeout time.Duration) error {
	in.mu.Lock()
	proc := in.proc
	in.mu.Unlock()
	return waitFor(proc, timeout, in.Ready)
}
