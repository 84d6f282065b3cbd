package loadgen

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wires is the load client's HTTP/1.1: one kept-alive connection per
// worker, each request written with one write and its answer read in the
// worker's own goroutine. net/http's client hands every request to two
// goroutines of its connection, a writer and a reader. On a machine whose
// two cores also run the server and its database, those hand-offs cost the
// client as much as a ticket's HTTP costs the server, and the ratios of
// BENCHMARKS.md compare Yihao with pgbench, whose client costs a write and
// a read. The answers are still parsed by net/http (http.ReadResponse).
type wires struct {
	ctx     context.Context
	addr    string // host:port to dial
	host    string // the Host header
	prefix  string // the base URL's path, before every request's
	tls     *tls.Config
	timeout time.Duration // per request, the write and the whole answer
	idle    chan *wire
}

// wire is one connection and its buffers.
type wire struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
	stop func() bool // unregisters the close on the run's end
	used bool        // it has answered before: a failure may be its idle close
}

// newWires keeps up to n connections to base, closed when ctx ends.
func newWires(ctx context.Context, base string, n int, timeout time.Duration) (*wires, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	w := &wires{ctx: ctx, host: u.Host, prefix: u.EscapedPath(), timeout: timeout, idle: make(chan *wire, n)}
	port := u.Port()
	switch u.Scheme {
	case "http":
		port = cmp.Or(port, "80")
	case "https":
		port = cmp.Or(port, "443")
		w.tls = &tls.Config{ServerName: u.Hostname()}
	default:
		return nil, fmt.Errorf("%q is not an http(s) URL", base)
	}
	w.addr = net.JoinHostPort(u.Hostname(), port)
	return w, nil
}

// close closes the idle connections.
func (ws *wires) close() {
	for {
		select {
		case w := <-ws.idle:
			w.drop()
		default:
			return
		}
	}
}

func (ws *wires) dial() (*wire, error) {
	d := net.Dialer{Timeout: ws.timeout}
	conn, err := d.DialContext(ws.ctx, "tcp", ws.addr)
	if err != nil {
		return nil, err
	}
	if ws.tls != nil {
		tc := tls.Client(conn, ws.tls)
		if err := tc.HandshakeContext(ws.ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		conn = tc
	}
	w := &wire{conn: conn, br: bufio.NewReaderSize(conn, 16<<10)}
	w.stop = context.AfterFunc(ws.ctx, func() { _ = conn.Close() })
	return w, nil
}

func (w *wire) drop() {
	w.stop()
	_ = w.conn.Close()
}

// do sends one request for path (under the base URL's) with the given
// header lines ("Name: value") and reads the whole answer, at most limit
// bytes of body. A request that found its kept-alive connection closed by
// the server while idle is sent again, once, on a fresh one, as net/http's
// client does for idempotent requests; every request of the load is (its
// reports carry an Idempotency-Key, its pushes a MsgId).
func (ws *wires) do(method, path string, header []string, body []byte, limit int64) (int, []byte, http.Header, error) {
	for retried := false; ; retried = true {
		var w *wire
		select {
		case w = <-ws.idle:
		default:
			var err error
			if w, err = ws.dial(); err != nil {
				return 0, nil, nil, ws.fail(err)
			}
		}
		status, data, hdr, keep, answered, err := w.roundTrip(ws, method, path, header, body, limit)
		if err != nil {
			w.drop()
			if w.used && !answered && !retried && idleClosed(err) && ws.ctx.Err() == nil {
				continue // the server closed the connection while it was idle: once more on a fresh one
			}
			return 0, nil, nil, ws.fail(err)
		}
		w.used = true
		if !keep {
			w.drop()
			return status, data, hdr, nil
		}
		select {
		case ws.idle <- w:
		default:
			w.drop()
		}
		return status, data, hdr, nil
	}
}

// idleClosed tells a connection the server had closed (the write or the
// first read refused) from one that is slow: a timeout is never sent again.
func idleClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// fail prefers the run's end to the closed connection it caused.
func (ws *wires) fail(err error) error {
	if cerr := ws.ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// roundTrip writes the request and reads its answer; keep says the
// connection can carry the next request, answered that a byte of an
// answer came (after which a failure is not the server's idle close).
func (w *wire) roundTrip(ws *wires, method, path string, header []string, body []byte, limit int64) (status int, data []byte, hdr http.Header, keep, answered bool, err error) {
	b := append(w.buf[:0], method...)
	b = append(b, ' ')
	b = append(b, ws.prefix...)
	if ws.prefix == "" && !strings.HasPrefix(path, "/") {
		b = append(b, '/') // "?query" on a base URL without a path
	}
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, ws.host...)
	b = append(b, "\r\n"...)
	for _, h := range header {
		b = append(b, h...)
		b = append(b, "\r\n"...)
	}
	if body != nil {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	w.buf = b
	if err = w.conn.SetDeadline(time.Now().Add(ws.timeout)); err != nil {
		return
	}
	if _, err = w.conn.Write(b); err != nil {
		return
	}
	if _, err = w.br.Peek(1); err != nil {
		return
	}
	answered = true
	resp, err := http.ReadResponse(w.br, &http.Request{Method: method})
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if data, err = io.ReadAll(io.LimitReader(resp.Body, limit)); err != nil {
		return
	}
	// An answer longer than limit is cut, and its connection not reused.
	var one [1]byte
	n, rerr := resp.Body.Read(one[:])
	keep = !resp.Close && n == 0 && rerr == io.EOF
	return resp.StatusCode, data, resp.Header, keep, answered, nil
}
