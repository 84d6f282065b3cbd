// Package browsertest starts the headless Chromium that the page tests
// drive, and runs their browser steps with a time limit, so every package
// with pages tests them the same way. For tests only.
package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

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
