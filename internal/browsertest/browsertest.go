// Package browsertest starts the headless Chromium that the page tests
// drive, and runs their browser steps with a time limit, so every package
// with pages tests them the same way. For tests only.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Path is where Debian's chromium package (make deps) puts the browser.
const Path = "/usr/bin/chromium"

// stepTimeout bounds one Run: a page that never shows what a step waits
// for fails the test instead of hanging it.
const stepTimeout = 20 * time.Second

// Need fails the test at once, saying how to install it, when Chromium is
// missing.
func Need(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		t.Fatalf("this test needs Chromium at %s (%v): run `make deps` (apt-get install chromium)", Path, err)
	}
}

// Start starts a headless Chromium with a fresh profile and one tab of
// width×height, and returns the tab's context; the browser stops when t
// ends.
func Start(ctx context.Context, t testing.TB, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	// Cleanups run last first: the browser exits (and the allocator waits
	// for it) before its profile directory is removed.
	t.Cleanup(func() { bcancel(); acancel() })
	// The first run starts the browser and ties its life to the context it
	// is given, so it gets bctx itself, not a shorter-lived child.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", Path, err)
	}
	return bctx
}

// Run runs one browser action within stepTimeout, failing the test on
// error, and returns what the action yields.
func Run[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// Do runs steps as one Run.
func Do(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	Run(t, ctx, what, chromedp.Steps(steps...))
}

// Leave runs act, which leaves the page — a link followed, a form posted
// — and returns once another document has replaced the one act ran on
// and has finished loading. Steps after it act on the page it led to,
// never on the page being left: an element found on the old page, or a
// field read while the new one is still being built ("Cannot find context
// with specified id"), is what made browser tests flaky. The old document
// is marked before act; the wait is over when a loaded document lacks
// the mark. While the page changes, evaluating fails for a moment; those
// errors are waited out, bounded by the step's context.
//
// A loaded page may not take input until it has drawn a frame, and a
// click that lands then is lost without a trace; so Leave waits for the
// page's next frames before act, and if the page has still not begun to
// leave (no beforeunload) missAfter after act, it runs act once more. A
// page that has begun to leave is never acted on twice, so a form is
// never posted twice.
func Leave(act chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.Evaluate[bool](markLeaving, chromedp.EvalAwaitPromise)(ctx, t); err != nil {
			return chromedp.Void{}, fmt.Errorf("mark the page being left: %w", err)
		}
		for try := 1; ; try++ {
			if _, err := act(ctx, t); err != nil {
				return chromedp.Void{}, err
			}
			state, err := awaitNext(ctx, t, time.Now().Add(missAfter))
			if state == "arrived" {
				return chromedp.Void{}, nil
			}
			if err == nil && state == "here" && try < 2 {
				continue
			}
			if err == nil {
				err = errors.New("no beforeunload")
			}
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			where, _ := chromedp.Evaluate[string](`location.href + " (" + document.readyState + ")"`)(wctx, t)
			cancel()
			if state == "here" {
				return chromedp.Void{}, fmt.Errorf("the page was not left: after %d tries %s had not begun to leave: %w", try, where, err)
			}
			return chromedp.Void{}, fmt.Errorf("the page was not left: it began to leave, but the next page did not load (%s, %s): %w", state, where, err)
		}
	}
}

// missAfter is how long after act a page that has not begun to leave
// counts as one that did not take it.
const missAfter = 5 * time.Second

// markLeaving marks the page being left, notes when it begins to unload,
// and resolves once the page has drawn two frames (or after a second, for
// a page that draws none).
const markLeaving = `new Promise(function (done) {
	window.__yihaoLeaving = true;
	window.__yihaoUnloading = false;
	addEventListener("beforeunload", function () { window.__yihaoUnloading = true; });
	setTimeout(done, 1000, true);
	requestAnimationFrame(function () { requestAnimationFrame(function () { done(true); }); });
})`

// leaveState says where a Leave stands: "here" (the old page, not yet
// leaving), "leaving", "loading" (the next page, not yet loaded) or
// "arrived".
const leaveState = `window.__yihaoLeaving !== true ? (document.readyState === "complete" ? "arrived" : "loading")
	: (window.__yihaoUnloading === true ? "leaving" : "here")`

// awaitNext waits for the next page to load. It returns "arrived" once it
// has, or "here" if by miss the old page has not begun to leave; when ctx
// ends first, the state it was in and ctx's error. A page that does not
// answer within a second counts as leaving until it answers.
func awaitNext(ctx context.Context, t *chromedp.Target, miss time.Time) (string, error) {
	state := "here"
	for {
		ectx, cancel := context.WithTimeout(ctx, time.Second)
		s, err := chromedp.Evaluate[string](leaveState)(ectx, t)
		cancel()
		switch {
		case err == nil:
			state = s
		case changingPage(err):
			state = "leaving"
		case ctx.Err() == nil && ectx.Err() != nil:
			// A page whose post is on its way may not evaluate at all
			// until the answer comes.
			state = "leaving"
		case ctx.Err() == nil:
			return state, fmt.Errorf("wait for the next page: %w", err)
		}
		if state == "arrived" || (state == "here" && time.Now().After(miss)) {
			return state, nil
		}
		select {
		case <-ctx.Done():
			return state, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// changingPage reports whether err is what evaluating says while one
// document replaces another.
func changingPage(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Cannot find context with specified id") || strings.Contains(s, "Execution context was destroyed") ||
		strings.Contains(s, "Inspected target navigated or closed")
}

// Context is the context a page test drives its browser within: two
// minutes, or until five seconds before the test's own deadline.
func Context(t testing.TB) context.Context {
	deadline := time.Now().Add(2 * time.Minute)
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok && dl.Add(-5*time.Second).Before(deadline) {
			deadline = dl.Add(-5 * time.Second)
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// Screenshots is where a page test saves its screens: $YIHAO_SCREENSHOTS,
// or a directory of the test's own.
func Screenshots(t testing.TB) string {
	if dir := os.Getenv("YIHAO_SCREENSHOTS"); dir != "" {
		return dir
	}
	return t.TempDir()
}

// Shot saves the page as dir/name; a screenshot that fails is logged,
// never a failure of the test.
func Shot(t testing.TB, ctx context.Context, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.MkdirAll(dir, 0o750)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name), png, 0o640)
	}
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

// Until waits, up to 15 s, for the JavaScript expression to hold.
func Until(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))(ctx, tg)
		return chromedp.Void{}, err
	}
}

// Offline cuts the tab's network (off) or gives it back: requests fail
// as with no signal, and the page hears offline and online.
func Offline(off bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}}}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: off, DownloadThroughput: -1, UploadThroughput: -1})
		return err
	})
}

// Position lets origin's pages of the tab's browser context read the
// position and fakes it, as a phone outdoors would give it.
func Position(origin string, lat, lon float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "geolocation"}, Setting: browser.PermissionSettingGranted, Origin: origin,
			BrowserContextID: chromedp.FromContext(ctx).BrowserContextID}); err != nil {
			return err
		}
		acc := 8.0
		_, err := chromedp.Call(ctx, emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{Latitude: &lat, Longitude: &lon, Accuracy: &acc})
		return err
	})
}
