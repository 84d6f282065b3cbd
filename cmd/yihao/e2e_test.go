package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/yihao-city/yihao/internal/browsertest"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
)

// The end-to-end test drives the real binary's serve command in-process
// and a real headless Chromium through the citizen form, the tracking page,
// a restart and a refused upload, once per store.

const (
	e2eText    = "小区门口井盖缺失，晚上很危险，昨天有老人差点踩空。"
	e2eAddress = "东城区东华门街道某小区南门"
	e2ePhone   = "13800138000"
	e2eBadText = "楼道里堆满杂物，堵住了消防通道。"
)

func TestWebIntakeInBrowser(t *testing.T) {
	browsertest.Need(t)
	deadline := time.Now().Add(110 * time.Second)
	if d, ok := t.Deadline(); ok && d.Add(-5*time.Second).Before(deadline) {
		deadline = d.Add(-5 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)

	dir := t.TempDir()
	photo := filepath.Join(dir, "manhole.jpg")
	e2eWriteJPEG(t, photo, 64, 48)
	fake := filepath.Join(dir, "fake.jpg") // a PDF under a photo's name
	if err := os.WriteFile(fake, []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	stores := []struct {
		name string
		env  func(t *testing.T) map[string]string
	}{
		{"sqlite", func(t *testing.T) map[string]string {
			return map[string]string{"YIHAO_DATA_DIR": t.TempDir()}
		}},
		{"postgres", func(t *testing.T) map[string]string {
			return map[string]string{"YIHAO_DATA_DIR": t.TempDir(), "YIHAO_DATABASE_URL": pgtest.SchemaURL(t)}
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e2eIntake(ctx, t, st.name, st.env(t), photo, fake)
		})
	}
}

func e2eIntake(ctx context.Context, t *testing.T, store string, env map[string]string, photo, fake string) {
	start := time.Now()
	srv := e2eStart(ctx, t, env)
	b := e2eBrowser(ctx, t, store)
	t.Logf("server and browser up in %v", time.Since(start).Round(time.Millisecond))

	// 1. The citizen fills in the form, with one photo, and submits it.
	browsertest.Do(t, b.ctx, "fill in the form",
		chromedp.Navigate(srv.base+"/"),
		chromedp.WaitVisible(chromedp.ID("report")),
		chromedp.SendKeys(chromedp.ID("text"), e2eText),
		chromedp.SendKeys(chromedp.ID("address"), e2eAddress),
		chromedp.SendKeys(chromedp.ID("name"), "张女士"),
		chromedp.SendKeys(chromedp.ID("phone"), e2ePhone),
		chromedp.SetUploadFiles(chromedp.ID("photos"), []string{photo}),
	)
	// form.js ran (the CSP allows it) and accepted the photo.
	browsertest.Run(t, b.ctx, "form.js accepts the photo", chromedp.Poll[bool](
		`document.getElementById("photo-status").textContent === "已选择 1 张照片"`,
		chromedp.WithPollingTimeout(5*time.Second)))
	if got, want := browsertest.Run(t, b.ctx, "character count", chromedp.Text(chromedp.ID("count"))), fmt.Sprint(len([]rune(e2eText))); got != want {
		t.Errorf("#count = %q, want %q", got, want)
	}
	b.shot(t, "form")
	resp := e2eSubmit(t, b.ctx, "submit the form")
	if resp.Status != http.StatusOK || !strings.Contains(resp.URL, "/t/") {
		t.Errorf("after submitting: %d %s, want 200 from the tracking page", resp.Status, resp.URL)
	}
	browsertest.Do(t, b.ctx, "wait for the tracking page", chromedp.WaitVisible(chromedp.ID("number")), chromedp.WaitVisible(chromedp.ID("created")))

	// 2. The tracking page: number, routing, timeline.
	tp := e2eReadTrack(t, b.ctx)
	b.shot(t, "track")
	if !regexp.MustCompile(`^[0-9]{14}$`).MatchString(tp.number) || !ticketing.ValidNumber(tp.number) {
		t.Errorf("#number = %q, want 14 digits with a valid check digit", tp.number)
	}
	if tp.department != "市水务局" {
		t.Errorf("#department = %q, want 市水务局", tp.department)
	}
	if !strings.Contains(tp.reason, "污水井盖") || !strings.Contains(tp.reason, "东华门街道") || !strings.Contains(tp.reason, "市水务局主办") {
		t.Errorf("#reason = %q, want the category (污水井盖), the place found from the address (东华门街道) and the lead department", tp.reason)
	}
	if !strings.Contains(tp.timeline, "已派遣") {
		t.Errorf("#timeline = %q, want it to say 已派遣", tp.timeline)
	}
	if tp.status != string(ticketing.StatusDispatched) {
		t.Errorf("#status data-status = %q, want %q", tp.status, ticketing.StatusDispatched)
	}
	if !strings.Contains(tp.html, "小区门口井盖缺失，晚上很危险") {
		t.Error("the tracking page does not show the citizen's text")
	}
	if strings.Contains(tp.html, e2ePhone) {
		t.Errorf("the tracking page shows the phone number %s", e2ePhone)
	}
	link, err := url.Parse(tp.link)
	if err != nil || link.Query().Get("token") == "" || link.Path != "/t/"+tp.number {
		t.Fatalf("a#link href = %q, want /t/%s?token=...", tp.link, tp.number)
	}
	token := link.Query().Get("token")

	// 3. The citizen API view: the photo is stored, the phone is not shown.
	body := e2eGet(t, ctx, srv.base+"/api/v1/tickets/"+tp.number+"?token="+url.QueryEscape(token))
	var view struct {
		Number         string          `json:"number"`
		Status         string          `json:"status"`
		DepartmentName string          `json:"department_name"`
		Photos         int             `json:"photos"`
		Contact        json.RawMessage `json:"contact"`
	}
	if err := json.Unmarshal(body, &view); err != nil {
		t.Fatalf("ticket JSON: %v\n%s", err, body)
	}
	if view.Number != tp.number || view.Photos != 1 || view.DepartmentName != "市水务局" {
		t.Errorf("API view = %+v, want number %s, 1 photo, 市水务局", view, tp.number)
	}
	if view.Contact != nil || bytes.Contains(body, []byte(e2ePhone)) {
		t.Errorf("the citizen's API view shows contact details:\n%s", body)
	}
	media := filepath.Join(env["YIHAO_DATA_DIR"], "media")
	e2eCheckPhotos(t, media, 1, 64, 48)

	// 4. A graceful restart on the same data keeps the ticket.
	stopStart := time.Now()
	if err := srv.stop(); err != nil {
		t.Fatalf("run returned %v after its context was cancelled, want nil (graceful shutdown)", err)
	}
	t.Logf("graceful stop took %v", time.Since(stopStart).Round(time.Millisecond))
	srv = e2eStart(ctx, t, env)
	browsertest.Do(t, b.ctx, "open the tracking link after the restart",
		chromedp.Navigate(srv.base+link.RequestURI()),
		chromedp.WaitVisible(chromedp.ID("number")))
	again := e2eReadTrack(t, b.ctx)
	b.shot(t, "restarted")
	if again.number != tp.number || again.status != tp.status || again.department != tp.department {
		t.Errorf("after the restart the page shows %s %s %s, want %s %s %s",
			again.number, again.status, again.department, tp.number, tp.status, tp.department)
	}
	if again.created {
		t.Error("the bookmarked link (without new=1) shows the 提交成功 box")
	}

	// 5. Bad input. An empty description never leaves the browser: form.js
	// stops the submit and puts the cursor in the text box.
	browsertest.Do(t, b.ctx, "submit an empty form",
		chromedp.Navigate(srv.base+"/"),
		chromedp.WaitVisible(chromedp.ID("report")),
		chromedp.Click(chromedp.ID("submit")),
	)
	browsertest.Run(t, b.ctx, "empty description blocked", chromedp.Poll[bool](
		`document.activeElement !== null && document.activeElement.id === "text"`,
		chromedp.WithPollingTimeout(5*time.Second)))
	if loc := browsertest.Run(t, b.ctx, "location", chromedp.Location()); loc != srv.base+"/" {
		t.Errorf("an empty form navigated to %s", loc)
	}

	// A PDF named .jpg passes form.js (the browser types it by its name) and
	// is refused by the server, which shows the form again with the text kept.
	browsertest.Do(t, b.ctx, "fill in the form with a PDF as the photo",
		chromedp.SendKeys(chromedp.ID("text"), e2eBadText),
		chromedp.SendKeys(chromedp.ID("address"), e2eAddress),
		chromedp.SendKeys(chromedp.ID("name"), "李先生"),
		chromedp.SetUploadFiles(chromedp.ID("photos"), []string{fake}),
	)
	resp = e2eSubmit(t, b.ctx, "submit the PDF")
	if resp.Status != http.StatusUnsupportedMediaType {
		t.Errorf("posting a PDF as a photo: status %d, want 415", resp.Status)
	}
	browsertest.Do(t, b.ctx, "wait for the error box", chromedp.WaitVisible(chromedp.ID("form-error")))
	b.shot(t, "rejected")
	if msg := browsertest.Run(t, b.ctx, "#form-error", chromedp.Text(chromedp.ID("form-error"))); !strings.Contains(msg, "JPEG") {
		t.Errorf("#form-error = %q, want it to name JPEG", msg)
	}
	if f := browsertest.Run(t, b.ctx, "#form-error data-field", chromedp.AttributeValue(chromedp.ID("form-error"), "data-field")); f.Value != "photos" {
		t.Errorf("#form-error data-field = %q, want photos", f.Value)
	}
	if v := browsertest.Run(t, b.ctx, "#text", chromedp.Value(chromedp.ID("text"))); v != e2eBadText {
		t.Errorf("#text after the error = %q, want the citizen's text %q kept", v, e2eBadText)
	}
	if v := browsertest.Run(t, b.ctx, "#address", chromedp.Value(chromedp.ID("address"))); v != e2eAddress {
		t.Errorf("#address after the error = %q, want %q kept", v, e2eAddress)
	}
	if v := browsertest.Run(t, b.ctx, "#name", chromedp.Value(chromedp.ID("name"))); v != "李先生" {
		t.Errorf("#name after the error = %q, want %q kept (it comes after the photo in the form)", v, "李先生")
	}
	if browsertest.Run(t, b.ctx, "#number", chromedp.Evaluate[bool](`document.getElementById("number") !== null`)) {
		t.Error("the refused report shows a ticket number")
	}
	if loc := browsertest.Run(t, b.ctx, "location", chromedp.Location()); !strings.HasSuffix(loc, "/report") {
		t.Errorf("after the refused report the browser is at %s, want the form's /report", loc)
	}
	// Nothing of the PDF was kept.
	e2eCheckPhotos(t, media, 1, 64, 48)
	t.Logf("%s: whole flow in %v", store, time.Since(start).Round(time.Millisecond))
}

// e2eTrack is what the tracking page shows.
type e2eTrack struct {
	number, status, department, reason, timeline, link, html string
	created                                                  bool
}

func e2eReadTrack(t *testing.T, ctx context.Context) e2eTrack {
	t.Helper()
	var p e2eTrack
	p.number = browsertest.Run(t, ctx, "#number", chromedp.Text(chromedp.ID("number")))
	p.status = browsertest.Run(t, ctx, "#status", chromedp.AttributeValue(chromedp.ID("status"), "data-status")).Value
	p.department = browsertest.Run(t, ctx, "#department", chromedp.Text(chromedp.ID("department")))
	p.reason = browsertest.Run(t, ctx, "#reason", chromedp.Text(chromedp.ID("reason")))
	p.timeline = browsertest.Run(t, ctx, "#timeline", chromedp.Text(chromedp.ID("timeline")))
	p.link = browsertest.Run(t, ctx, "a#link", chromedp.JavascriptAttribute[string](chromedp.CSS("a#link"), "href"))
	p.html = browsertest.Run(t, ctx, "page HTML", chromedp.OuterHTML(chromedp.CSS("html")))
	p.created = browsertest.Run(t, ctx, "#created", chromedp.Evaluate[bool](`(function () {
		var e = document.getElementById("created");
		return e !== null && e.offsetParent !== null && e.textContent.indexOf("提交成功") >= 0;
	})()`))
	return p
}

// e2eSubmit clicks #submit and returns the response of the page it leads to.
func e2eSubmit(t *testing.T, ctx context.Context, what string) *network.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("submit")))
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
	return resp
}

// e2eBrowserTab is one headless Chromium with one tab, and the screenshots
// taken so far.
type e2eBrowserTab struct {
	ctx   context.Context
	store string
	mu    sync.Mutex
	shots []e2eShot
}

type e2eShot struct {
	name string
	png  []byte
}

func e2eBrowser(ctx context.Context, t *testing.T, store string) *e2eBrowserTab {
	t.Helper()
	b := &e2eBrowserTab{ctx: browsertest.Start(ctx, t, 1024, 900), store: store}
	t.Cleanup(func() { b.save(t) })
	return b
}

// shot keeps a screenshot of the page in memory; save writes them out.
func (b *e2eBrowserTab) shot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.mu.Lock()
	b.shots = append(b.shots, e2eShot{name, png})
	b.mu.Unlock()
}

// save writes the screenshots to $YIHAO_E2E_SHOTS, or, when the test
// failed, to a directory that outlives the test (a t.TempDir would be
// removed with the evidence). On failure it adds the page as it is now.
func (b *e2eBrowserTab) save(t *testing.T) {
	dir := os.Getenv("YIHAO_E2E_SHOTS")
	if dir == "" && !t.Failed() {
		return
	}
	if t.Failed() {
		b.shot(t, "failure")
	}
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "yihao-e2e-"); err != nil {
			t.Logf("screenshots: %v", err)
			return
		}
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Logf("screenshots: %v", err)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.shots {
		p := filepath.Join(dir, b.store+"-"+s.name+".png")
		if err := os.WriteFile(p, s.png, 0o640); err != nil {
			t.Logf("screenshot: %v", err)
			continue
		}
		t.Logf("screenshot: %s", p)
	}
}

// testMetricsToken is the metrics token e2eStart gives the server.
const testMetricsToken = "metrics-token-for-tests"

// e2eStartWait bounds how long e2eStart waits for the server to listen.
const e2eStartWait = 60 * time.Second

// e2eServer is the serve command running in-process.
type e2eServer struct {
	base   string
	stderr *e2eBuffer
	stop   func() error
}

func e2eStart(ctx context.Context, t *testing.T, env map[string]string) *e2eServer {
	t.Helper()
	vars := map[string]string{"YIHAO_HTTP_ADDR": "127.0.0.1:0", "YIHAO_SIP_ADDR": "127.0.0.1:0", "YIHAO_METRICS_TOKEN": testMetricsToken}
	for k, v := range env {
		vars[k] = v
	}
	getenv := func(k string) string { return vars[k] }
	stdout := &e2eBuffer{want: "citizen form:", found: make(chan string, 1)}
	stderr := &e2eBuffer{}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(sctx, []string{"serve"}, getenv, stdout, stderr) }()

	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(40 * time.Second):
				stopErr = fmt.Errorf("run did not return within 40s of its context being cancelled")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stopping the server: %v", err)
		}
		if t.Failed() {
			t.Logf("server stderr:\n%s", stderr)
		}
	})

	select {
	case line := <-stdout.found:
		base := strings.TrimSuffix(strings.TrimSpace(line), "/")
		if _, err := url.Parse(base); err != nil || !strings.HasPrefix(base, "http://127.0.0.1:") {
			t.Fatalf("citizen form URL %q is not http://127.0.0.1:PORT/", line)
		}
		return &e2eServer{base: base, stderr: stderr, stop: stop}
	case err := <-done:
		done <- err // for stop
		t.Fatalf("run returned %v before listening\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	// Before it listens the server hashes the configured users' passwords
	// (argon2id); under -race on a busy machine that alone took over 20 s.
	case <-time.After(e2eStartWait):
		t.Fatalf("no %q line on stdout within %v\nstdout:\n%s\nstderr:\n%s", stdout.want, e2eStartWait, stdout, stderr)
	}
	return nil
}

// e2eBuffer is a writer safe for the server's goroutines. When want is set
// it sends the rest of the first complete line containing want on found.
type e2eBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  string
	found chan string
	sent  bool
}

func (w *e2eBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, _ := w.buf.Write(p)
	if w.want != "" && !w.sent {
		for line := range strings.Lines(w.buf.String()) {
			if !strings.HasSuffix(line, "\n") {
				break // not complete yet
			}
			if _, rest, ok := strings.Cut(line, w.want); ok {
				w.sent = true
				w.found <- rest
				break
			}
		}
	}
	return n, nil
}

func (w *e2eBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func e2eGet(t *testing.T, ctx context.Context, u string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", u, resp.Status, body)
	}
	return body
}

// e2eCheckPhotos checks that the media directory holds exactly n finished
// files, each a JPEG of w×h pixels.
func e2eCheckPhotos(t *testing.T, dir string, n, w, h int) {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("media directory: %v", err)
	}
	if len(files) != n {
		t.Fatalf("media directory %s holds %d files %v, want %d", dir, len(files), files, n)
	}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != w || cfg.Height != h {
			t.Errorf("stored photo %s: %d×%d, %v; want a %d×%d JPEG", p, cfg.Width, cfg.Height, err, w, h)
		}
	}
}

func e2eWriteJPEG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 90, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
