// Package sipptest runs sipp, the SIP traffic generator (Debian package
// sip-tester, installed by `make deps`), from Go tests against the hotline's
// scenarios in channels/hotline/testdata/sipp.
//
// Run plays a client scenario (a caller, the SMS gateway, registering
// agents) to its end and returns sipp's statistics; Start keeps a server
// scenario (an agent's phone) running in the background until Stop or the
// end of the test.
//
//	agent := sipptest.Start(t, "agent_uas.xml", "-t", "u1", "-d", "1000")
//	res := sipptest.Run(t, "caller_uac.xml", agent.Addr, "-t", "u1",
//		"-s", "12345", "-m", "10", "-r", "10", "-d", "200")
//	if res.Successful != 10 {
//		t.Errorf("caller: %v", res)
//	}
//
// Both add to the arguments whatever is not given: -i 127.0.0.1, -p (a free
// port), -max_socket 1000 (the un and tn transports need it below the open
// file limit), and for Run -timeout 60s with -timeout_error. sipp's files
// (statistics, errors, messages, logs of <log> actions) go to a temporary
// directory; when the test fails, the tail of the errors and messages is
// logged.
package sipptest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultTimeout bounds a Run whose arguments carry no -timeout.
const DefaultTimeout = 60 * time.Second

// Exit codes of sipp.
const (
	ExitOK       = 0   // every call successful
	ExitFailed   = 1   // at least one call failed
	ExitInternal = 97  // stopped by an internal command, or a global timeout with no successful call
	ExitNoCalls  = 99  // normal exit without calls processed
	ExitFatal    = 255 // fatal error (-1): bad scenario or arguments, -timeout_error reached
	ExitBind     = 254 // could not bind a socket (-2)
)

// Result is what sipp reports about a run: the cumulative counters of the
// last line of its -trace_stat file, its exit code and output.
type Result struct {
	Successful      int // SuccessfulCall(C)
	Failed          int // FailedCall(C)
	Retransmissions int // Retransmissions(C): messages sent again (UDP)
	Unexpected      int // FailedUnexpectedMessage(C)
	Timeouts        int // FailedTimeoutOnRecv(C) + FailedTimeoutOnSend(C)
	AutoAnswered    int // AutoAnswered(C): requests handled by the -oocsf scenario
	OutOfCall       int // OutOfCallMsgs(C): messages no call would take
	Created         int // TotalCallCreated
	Current         int // CurrentCall: calls still open when the line was written

	// Stats is that last line of the statistics file by column name, with
	// every counter sipp keeps; nil if sipp wrote none (it failed to start).
	Stats map[string]string

	ExitCode       int // -1 if sipp was killed by a signal
	Stdout, Stderr string
	Errors         string // sipp's error log (-trace_err): unexpected messages, aborted calls
	Dir            string // where sipp wrote its files; removed after the test
}

// String summarises the result for a test failure message.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sipp exit %d: %d successful, %d failed (%d unexpected message, %d timeout), %d retransmissions, %d created, %d open",
		r.ExitCode, r.Successful, r.Failed, r.Unexpected, r.Timeouts, r.Retransmissions, r.Created, r.Current)
	if r.AutoAnswered > 0 {
		fmt.Fprintf(&b, ", %d auto-answered", r.AutoAnswered)
	}
	// sipp's error log repeats what it writes to stderr, and more.
	if s := strings.TrimSpace(r.Errors); s != "" {
		fmt.Fprintf(&b, "\nerrors:\n%s", tail(s, 4000))
	} else if s := strings.TrimSpace(r.Stderr); s != "" {
		fmt.Fprintf(&b, "\nstderr:\n%s", tail(s, 4000))
	}
	return b.String()
}

// Dir returns the absolute path of channels/hotline/testdata/sipp.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("sipptest: cannot locate its own source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "testdata", "sipp")
}

// Scenario returns the path of a scenario: a bare file name is looked up in
// Dir, anything else is taken as a path.
func Scenario(name string) string {
	if filepath.IsAbs(name) || strings.ContainsRune(name, filepath.Separator) {
		return name
	}
	return filepath.Join(Dir(), name)
}

// Run plays scenario with args to its end and returns sipp's statistics.
// The remote address (host:port) goes in args like any other argument. It
// fails t if sipp is missing, does not run (bad arguments or scenario, a
// port in use: no statistics, exit code 254 or 255), stops on a fatal error,
// or reaches its -timeout (DefaultTimeout unless args give one; sipptest
// adds -timeout_error, without which sipp would wait for open calls). Calls
// that fail are for the caller to judge from the Result.
func Run(t testing.TB, scenario string, args ...string) Result {
	t.Helper()
	bin := lookPath(t)
	dir := t.TempDir()
	timeout := DefaultTimeout
	if v, ok := argValue(args, "-timeout"); ok {
		d, err := sippDuration(v)
		if err != nil {
			t.Fatalf("sipptest: -timeout %q: %v", v, err)
		}
		timeout = d
	} else {
		args = append(args, "-timeout", fmt.Sprintf("%ds", int(timeout/time.Second)))
	}
	if !hasArg(args, "-timeout_error") {
		args = append(args, "-timeout_error")
	}
	if !hasArg(args, "-p") {
		args = append(args, "-p", strconv.Itoa(FreePort(t)))
	}
	full := command(t, scenario, dir, args)
	logOnFailure(t, scenario, dir)

	cmd := exec.Command(bin, full...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("sipptest: start sipp: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var err error
	killed := false
	// sipp stops itself at -timeout; the margin covers its start and exit.
	select {
	case err = <-done:
	case <-time.After(timeout + 15*time.Second):
		killed = true
		_ = cmd.Process.Kill()
		err = <-done
	}
	res := result(dir, exitCode(err), stdout.String(), stderr.String())
	name := filepath.Base(scenario)
	switch {
	case killed:
		t.Fatalf("sipptest: sipp %s still running %v after its start (-timeout %v); killed\n%v", name, timeout+15*time.Second, timeout, res)
	case strings.Contains(res.Stderr, "timed out after"):
		t.Fatalf("sipptest: sipp %s timed out (-timeout %v)\n%v", name, timeout, res)
	case res.Stats == nil:
		// Errors in the arguments or the scenario end sipp before its
		// statistics start, with exit code 1 or 255.
		t.Fatalf("sipptest: sipp %s did not run: %v\nargs: %s", name, res, strings.Join(full, " "))
	case res.ExitCode == ExitFatal || res.ExitCode == ExitBind || res.ExitCode < 0:
		t.Fatalf("sipptest: sipp %s stopped on a fatal error: %v", name, res)
	}
	return res
}

// Process is a sipp running in the background, normally a server scenario
// such as agent_uas.xml.
type Process struct {
	Port int    // the port it listens on (-p)
	Addr string // 127.0.0.1:Port, to give the clients as remote address
	Dir  string // where it writes its files

	t      testing.TB
	cmd    *exec.Cmd
	stdout *bytes.Buffer
	stderr *bytes.Buffer
	done   chan struct{}
	err    error // from Wait, once done is closed

	once sync.Once
	res  Result
}

// Start starts scenario with args in the background and returns once sipp
// listens on its port (-p; a free one is picked when args have none). The
// transport is the one of -t (UDP unless it starts with t or l). sipp is
// stopped when the test ends, if Stop was not called before. It fails t if
// sipp is missing or exits or does not listen within 10 seconds.
func Start(t testing.TB, scenario string, args ...string) *Process {
	t.Helper()
	bin := lookPath(t)
	dir := t.TempDir()
	port := 0
	if v, ok := argValue(args, "-p"); ok {
		p, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("sipptest: -p %q: %v", v, err)
		}
		port = p
	} else {
		port = FreePort(t)
		args = append(args, "-p", strconv.Itoa(port))
	}
	full := command(t, scenario, dir, args)
	logOnFailure(t, scenario, dir)

	ip := "127.0.0.1"
	if v, ok := argValue(full, "-i"); ok {
		ip = v
	}
	p := &Process{
		Port:   port,
		Addr:   net.JoinHostPort(ip, strconv.Itoa(port)),
		Dir:    dir,
		t:      t,
		cmd:    exec.Command(bin, full...),
		stdout: new(bytes.Buffer),
		stderr: new(bytes.Buffer),
		done:   make(chan struct{}),
	}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("sipptest: start sipp: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	// At the end of a failed test, don't wait for calls to finish.
	t.Cleanup(func() {
		grace := 5 * time.Second
		if t.Failed() {
			grace = 0
		}
		p.stop(grace)
	})

	tcp := false
	if v, ok := argValue(full, "-t"); ok && (strings.HasPrefix(v, "t") || strings.HasPrefix(v, "l")) {
		tcp = true
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-p.done:
			res := result(dir, exitCode(p.err), p.stdout.String(), p.stderr.String())
			t.Fatalf("sipptest: sipp %s exited at start: %v\nargs: %s", filepath.Base(scenario), res, strings.Join(full, " "))
		default:
		}
		up, known := listening(port, tcp)
		if up {
			return p
		}
		if !known { // no /proc/net here: give sipp a moment
			time.Sleep(500 * time.Millisecond)
			return p
		}
		if time.Now().After(deadline) {
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Fatalf("sipptest: sipp %s not listening on port %d after 10s\n%v", filepath.Base(scenario), port,
				result(dir, exitCode(p.err), p.stdout.String(), p.stderr.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stats returns the counters sipp last wrote while running (once a second,
// -fd 1); ExitCode, Stdout and Stderr are left empty.
func (p *Process) Stats() Result {
	return result(p.Dir, 0, "", "")
}

// Stop ends sipp and returns its final statistics. It asks sipp to finish
// its open calls and take no new ones (SIGUSR1), waits up to 10 seconds,
// then ends it (SIGTERM, which still writes the statistics; calls still
// open are counted in Current, not Failed), then kills it. Only the kill
// fails the test. Stop may be called more than once.
func (p *Process) Stop() Result {
	return p.stop(10 * time.Second)
}

func (p *Process) stop(grace time.Duration) Result {
	p.once.Do(func() {
		steps := []struct {
			sig  os.Signal
			wait time.Duration
		}{
			{syscall.SIGUSR1, grace},
			{syscall.SIGTERM, 5 * time.Second},
			{os.Kill, 5 * time.Second},
		}
		for _, s := range steps {
			select {
			case <-p.done:
			default:
				if s.wait == 0 {
					continue
				}
				_ = p.cmd.Process.Signal(s.sig)
				if s.sig == os.Kill {
					p.t.Errorf("sipptest: sipp in %s did not stop on SIGTERM; killed", p.Dir)
				}
				select {
				case <-p.done:
				case <-time.After(s.wait):
				}
			}
		}
		<-p.done
		p.res = result(p.Dir, exitCode(p.err), p.stdout.String(), p.stderr.String())
	})
	return p.res
}

// FreePort returns a port of 127.0.0.1 that is free for both UDP and TCP
// right now.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("sipptest: free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = u.Close()
		return port
	}
	t.Fatalf("sipptest: no port free for both UDP and TCP")
	return 0
}

// InjectionFile writes rows as a sipp injection file (-inf): SEQUENTIAL,
// then one line per row, fields separated by ";". register.xml reads
// ext;password lines:
//
//	inf := sipptest.InjectionFile(t, []string{"8001", "s3cret"}, []string{"8002", "s3cret"})
func InjectionFile(t testing.TB, rows ...[]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for _, r := range rows {
		b.WriteString(strings.Join(r, ";"))
		b.WriteString("\n")
	}
	path := filepath.Join(t.TempDir(), "inject.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatalf("sipptest: %v", err)
	}
	return path
}

func lookPath(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipptest: sipp not found (%v); `make deps` installs it (apt-get install sip-tester)", err)
	}
	return bin
}

// command returns sipp's arguments: the scenario, args (an -oocsf scenario
// found like the main one), then what sipptest adds: trace files in dir and
// defaults args lack.
func command(t testing.TB, scenario, dir string, args []string) []string {
	t.Helper()
	path := Scenario(scenario)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("sipptest: scenario: %v", err)
	}
	full := append([]string{"-sf", path}, args...)
	for i := range len(full) - 1 {
		if full[i] == "-oocsf" { // message_uac.xml's companion, by bare name too
			full[i+1] = Scenario(full[i+1])
		}
	}
	if !hasArg(args, "-i") {
		full = append(full, "-i", "127.0.0.1")
	}
	if !hasArg(args, "-max_socket") {
		full = append(full, "-max_socket", "1000")
	}
	if !hasArg(args, "-nostdin") {
		full = append(full, "-nostdin")
	}
	return append(full,
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"), "-fd", "1",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"),
		"-trace_logs", "-log_file", filepath.Join(dir, "logs.log"),
		"-trace_screen", "-screen_file", filepath.Join(dir, "screen.log"),
	)
}

// logOnFailure logs the end of sipp's error and message logs if the test
// fails. Registered after t.TempDir, it runs before the directory goes.
func logOnFailure(t testing.TB, scenario, dir string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, name := range []string{"errors.log", "messages.log"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || len(bytes.TrimSpace(b)) == 0 {
				continue
			}
			t.Logf("sipp %s, %s (end):\n%s", filepath.Base(scenario), name, tail(string(b), 6000))
		}
	})
}

func hasArg(args []string, name string) bool {
	return slices.Contains(args, name)
}

func argValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// sippDuration reads a sipp time argument: a number with an optional unit
// ms, s, m or h; seconds by default.
func sippDuration(v string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	unit := time.Second
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, unit = strings.TrimSuffix(v, u.suffix), u.unit
			break
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errors.New("want a number with an optional ms, s, m or h")
	}
	return time.Duration(n) * unit, nil
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode() // -1 when killed by a signal
	}
	return -1
}

// result reads what sipp left in dir.
func result(dir string, code int, stdout, stderr string) Result {
	r := Result{ExitCode: code, Stdout: stdout, Stderr: stderr, Dir: dir}
	if b, err := os.ReadFile(filepath.Join(dir, "errors.log")); err == nil {
		r.Errors = string(b)
	}
	stats, err := lastStats(filepath.Join(dir, "stat.csv"))
	if err != nil {
		return r
	}
	r.Stats = stats
	n := func(col string) int {
		v, _ := strconv.Atoi(strings.TrimSpace(stats[col]))
		return v
	}
	r.Successful = n("SuccessfulCall(C)")
	r.Failed = n("FailedCall(C)")
	r.Retransmissions = n("Retransmissions(C)")
	r.Unexpected = n("FailedUnexpectedMessage(C)")
	r.Timeouts = n("FailedTimeoutOnRecv(C)") + n("FailedTimeoutOnSend(C)")
	r.AutoAnswered = n("AutoAnswered(C)")
	r.OutOfCall = n("OutOfCallMsgs(C)")
	r.Created = n("TotalCallCreated")
	r.Current = n("CurrentCall")
	return r
}

// lastStats returns the last complete line of a -trace_stat file (";"
// separated, a header line first) by column.
func lastStats(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// sipp may be writing a line right now: read whole lines only.
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(lines) < 2 {
		return nil, io.ErrUnexpectedEOF
	}
	r := csv.NewReader(strings.NewReader(lines[0] + "\n" + lines[len(lines)-1] + "\n"))
	r.Comma = ';'
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	recs, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) != 2 || len(recs[1]) < len(recs[0])-1 {
		return nil, io.ErrUnexpectedEOF // a line being written
	}
	m := make(map[string]string, len(recs[0]))
	for i, name := range recs[0] {
		if name != "" && i < len(recs[1]) {
			m[name] = recs[1][i]
		}
	}
	return m, nil
}

// listening reports whether something listens on port (TCP) or has it
// bound (UDP), from /proc/net; known is false where there is no /proc/net.
func listening(port int, tcp bool) (up, known bool) {
	files := []string{"/proc/net/udp", "/proc/net/udp6"}
	if tcp {
		files = []string{"/proc/net/tcp", "/proc/net/tcp6"}
	}
	want := fmt.Sprintf(":%04X", port)
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		known = true
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 || !strings.HasSuffix(f[1], want) {
				continue
			}
			if !tcp || f[3] == "0A" { // 0A: TCP_LISTEN
				return true, true
			}
		}
	}
	return false, known
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
