package loadgen

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A connection the server closed while idle is replaced without a
// failure; an answer that says Connection: close is read whole and its
// connection not kept; a body past the limit is cut.
func TestWiresKeepAliveAndClose(t *testing.T) {
	var conns, closed atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("close") != "" {
			w.Header().Set("Connection", "close")
		}
		w.Header().Set("X-Path", r.URL.Path)
		w.Write([]byte(strings.Repeat("x", 100)))
	}))
	srv.Config.IdleTimeout = 50 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	ws, err := newWires(context.Background(), srv.URL+"/base", 1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.close()
	get := func(path string, limit int64) []byte {
		t.Helper()
		status, body, hdr, err := ws.do(http.MethodGet, path, nil, nil, limit)
		if err != nil || status != 200 || hdr.Get("X-Path") != "/base/x" {
			t.Fatalf("GET %s = %d %v (path %q)", path, status, err, hdr.Get("X-Path"))
		}
		return body
	}
	get("/x", 1<<20)
	get("/x", 1<<20)
	if n := conns.Load(); n != 1 {
		t.Fatalf("two requests took %d connections, want one kept alive", n)
	}
	for deadline := time.Now().Add(10 * time.Second); closed.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server never closed the idle connection")
		}
	}
	get("/x", 1<<20)
	if n := conns.Load(); n != 2 {
		t.Fatalf("after the idle close: %d connections, want a second one", n)
	}
	get("/x?close=1", 1<<20)
	get("/x", 1<<20)
	if n := conns.Load(); n != 3 {
		t.Fatalf("after Connection: close: %d connections, want a third one", n)
	}
	if b := get("/x", 10); len(b) != 10 {
		t.Fatalf("body cut at 10 bytes is %d long", len(b))
	}
	get("/x", 1<<20)
	if n := conns.Load(); n != 4 {
		t.Fatalf("after a cut body: %d connections, want a fourth one", n)
	}
	// A base URL without a path: a query alone goes to "/".
	bare, err := newWires(context.Background(), srv.URL, 1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.close()
	if status, _, hdr, err := bare.do(http.MethodGet, "?q=1", nil, nil, 1<<20); err != nil || status != 200 || hdr.Get("X-Path") != "/" {
		t.Fatalf("GET ?q=1 on %s = %d %v (path %q), want /", srv.URL, status, err, hdr.Get("X-Path"))
	}
}
