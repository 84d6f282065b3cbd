package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// leavePages serves a form that posts to /post (counted) and, after the
// post, the page it leads to. With ignore, the form's first submit is
// swallowed by the page, as a click that lands before the page takes
// input is; with hold, /post never answers until the test ends.
func leavePages(t *testing.T, ignore bool, hold chan struct{}) (*httptest.Server, *atomic.Int32) {
	var posts atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		script := ""
		if ignore {
			script = `<script>var first = true; document.querySelector("form").addEventListener("submit",
				function (ev) { if (first) { first = false; ev.preventDefault(); } });</script>`
		}
		fmt.Fprintf(w, `<!doctype html><title>form</title><form method="post" action="/post"><button id="go">Go</button></form>%s`, script)
	})
	mux.HandleFunc("POST /post", func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
		http.Redirect(w, r, "/done", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>done</title><p id="done">done</p>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &posts
}

// leave opens /form and leaves it by clicking Go, within limit.
func leave(tab context.Context, base string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(tab, limit)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Steps(
		chromedp.Navigate(base+"/form"),
		chromedp.WaitVisible(chromedp.ID("go")),
		Leave(chromedp.Click(chromedp.ID("go"))),
		chromedp.WaitVisible(chromedp.ID("done"))))
	return err
}

func TestLeave(t *testing.T) {
	Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tab := Start(ctx, t, 800, 600)

	// A form is posted once, and so is one whose first click the page did
	// not take: that click is made again.
	for _, tc := range []struct {
		name   string
		ignore bool
	}{{"posted once", false}, {"a lost click is made again", true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, posts := leavePages(t, tc.ignore, nil)
			if err := leave(tab, srv.URL, 15*time.Second); err != nil {
				t.Fatal(err)
			}
			if n := posts.Load(); n != 1 {
				t.Errorf("the form was posted %d times, want 1", n)
			}
		})
	}

	// A page that has begun to leave is never clicked again, however long
	// the next page takes; the error says it began to leave.
	t.Run("a slow post is never made twice", func(t *testing.T) {
		hold := make(chan struct{})
		defer close(hold)
		srv, posts := leavePages(t, false, hold)
		err := leave(tab, srv.URL, missAfter+3*time.Second)
		if err == nil || !strings.Contains(err.Error(), "began to leave") {
			t.Errorf("leaving a page whose post never answers: %v, want an error saying it began to leave", err)
		}
		if n := posts.Load(); n != 1 {
			t.Errorf("the form was posted %d times, want 1", n)
		}
	})
}
