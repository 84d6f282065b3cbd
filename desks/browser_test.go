package desks_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yihao-city/yihao/internal/browsertest"
	"github.com/yihao-city/yihao/ticketing"
)

// One ticket through both desks in a real headless Chromium: a dispatcher
// and a liaison, each in a browser context of their own (their own
// cookies), play dispatch from triage → the liaison's inbox shows it live
// → accept → ask for an extension → the dispatcher approves → the liaison
// reports the result (and reveals the reporter's number) → the dispatcher
// verifies and closes. Screenshots of each desk go to $YIHAO_SCREENSHOTS.
func TestDesksInBrowser(t *testing.T) {
	t.Parallel()
	browsertest.Need(t)
	deadline := time.Now().Add(2 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Add(-5*time.Second).Before(deadline) {
		deadline = d.Add(-5 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	shots := os.Getenv("YIHAO_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}

	photos, _ := withPhotos(t)
	e := newEnv(t, photos)
	photo := filepath.Join(t.TempDir(), "现场.jpg")
	if err := os.WriteFile(photo, photoJPEG(t, 120), 0o600); err != nil {
		t.Fatal(err)
	}
	tk := e.submit(t, "triage-roads", "人民路与解放路交叉口路面塌陷约一米见方，车辆绕行，晚上很危险。")
	// Some company on the desks.
	e.submit(t, "", "咨询公积金提取需要哪些材料")
	e.submit(t, "roads", "和平路路灯不亮已经一周")
	e.submit(t, "water", "幸福小区停水两天")

	browser := browsertest.Start(ctx, t, 1280, 900)
	disp := browserContext(t, browser)
	li := browserContext(t, browser)
	signIn(t, disp, e.srv.URL, "disp", "sec-triage")
	signIn(t, li, e.srv.URL, "li.jt", "inbox")
	browsertest.Run(t, li, "liaison's event stream open", chromedp.Poll[bool](`document.body.dataset.live === "open"`, chromedp.WithPollingTimeout(10*time.Second)))
	shot(t, li, shots, "1-inbox-before.png")

	// The dispatcher finds the report in triage and dispatches it to 交通运输局.
	row := `tr[data-number="` + tk.Number + `"]`
	browsertest.Do(t, disp, "triage lists the report", chromedp.WaitVisible(chromedp.CSS(`#sec-triage `+row)))
	shot(t, disp, shots, "2-dispatch-desk.png")
	browsertest.Do(t, disp, "open the ticket",
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#sec-triage `+row+` a`))),
		chromedp.WaitVisible(chromedp.ID("act-dispatch")),
		chromedp.WaitVisible(chromedp.ID("preview")))
	if got := browsertest.Run(t, disp, "preview", chromedp.Text(chromedp.ID("preview"))); !strings.Contains(got, "交通运输局") {
		t.Errorf("routing's suggestion %q, want 交通运输局", got)
	}
	shot(t, disp, shots, "3-ticket-dispatcher.png")
	browsertest.Do(t, disp, "dispatch",
		chromedp.SetValue(chromedp.ID("dispatch-department"), "jt"),
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#act-dispatch button[type="submit"]`))),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	waitStatus(t, e, tk.Number, ticketing.StatusDispatched)

	// The liaison's inbox shows it without a reload.
	browsertest.Do(t, li, "inbox shows the ticket live", chromedp.WaitVisible(chromedp.CSS(`#inbox `+row)))
	if browsertest.Run(t, li, "refreshed by the stream", chromedp.Evaluate[string](`document.body.dataset.refreshed || ""`)) == "" {
		t.Error("the row came without a live refresh")
	}
	shot(t, li, shots, "4-inbox-live.png")
	browsertest.Do(t, li, "accept",
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#inbox `+row+` a`))),
		chromedp.WaitVisible(chromedp.ID("act-accept")),
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#act-accept button`))),
		chromedp.WaitVisible(chromedp.ID("act-extend")))
	waitStatus(t, e, tk.Number, ticketing.StatusAccepted)

	until := e.ticket(t, tk.Number).DueAt.Add(5 * 24 * time.Hour).In(time.UTC).Format("2006-01-02T15:04")
	browsertest.Do(t, li, "request an extension",
		chromedp.SetValue(chromedp.CSS(`#act-extend input[name="until"]`), until),
		chromedp.SendKeys(chromedp.CSS(`#act-extend textarea[name="reason"]`), "需协调燃气管线迁改"),
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#act-extend button`))),
		chromedp.WaitVisible(chromedp.ID("extension")))
	browsertest.Run(t, li, "ticket page listens", chromedp.Poll[bool](`document.body.dataset.live === "open"`, chromedp.WithPollingTimeout(10*time.Second)))

	// The dispatcher sees the request on the desk (live) and approves it.
	browsertest.Do(t, disp, "extension requests list it",
		chromedp.Navigate(e.srv.URL+"/desk/dispatch"),
		chromedp.WaitVisible(chromedp.CSS(`#sec-extensions `+row)))
	shot(t, disp, shots, "5-dispatch-extension.png")
	browsertest.Do(t, disp, "approve the extension",
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#sec-extensions `+row+` a`))),
		chromedp.WaitVisible(chromedp.ID("approve-yes")),
		browsertest.Leave(chromedp.Click(chromedp.ID("approve-yes"))),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if got := e.ticket(t, tk.Number); got.Extension != nil || got.ExtensionCount != 1 || got.DueAt.Format("2006-01-02T15:04") != until {
		t.Errorf("after approval: extension %v, count %d, due %s (want %s)", got.Extension, got.ExtensionCount, got.DueAt, until)
	}

	// The liaison's ticket page says it changed; the liaison reports the result.
	browsertest.Do(t, li, "changed notice", chromedp.WaitVisible(chromedp.ID("changed")))
	browsertest.Do(t, li, "report the result",
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#changed a`))),
		chromedp.WaitVisible(chromedp.ID("act-handle")),
		chromedp.SendKeys(chromedp.CSS(`#act-handle textarea`), "已完成管线迁改并修复路面，恢复通行。"),
		chromedp.SetUploadFiles(chromedp.CSS(`#act-handle input[type="file"]`), []string{photo}),
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#act-handle button`))),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	waitStatus(t, e, tk.Number, ticketing.StatusHandled)
	browsertest.Run(t, li, "the result photo shows", chromedp.Poll[bool](`document.querySelector("#result-photos img")?.naturalWidth > 0`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if got := browsertest.Run(t, li, "masked phone", chromedp.Text(chromedp.ID("phone"))); got != phoneMask {
		t.Errorf("liaison sees %q, want %s", got, phoneMask)
	}
	browsertest.Do(t, li, "reveal", chromedp.Click(chromedp.ID("reveal")))
	browsertest.Run(t, li, "revealed phone", chromedp.Poll[bool](`document.getElementById("phone").textContent === "`+phoneE164+`"`,
		chromedp.WithPollingTimeout(10*time.Second)))
	shot(t, li, shots, "6-ticket-liaison.png")

	// The dispatcher verifies and closes it.
	browsertest.Do(t, disp, "verification lists it",
		chromedp.Navigate(e.srv.URL+"/desk/dispatch"),
		chromedp.WaitVisible(chromedp.CSS(`#sec-verify `+row)),
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#sec-verify `+row+` a`))),
		chromedp.WaitVisible(chromedp.ID("verify-pass")),
		browsertest.Leave(chromedp.Click(chromedp.ID("verify-pass"))),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	waitStatus(t, e, tk.Number, ticketing.StatusClosed)
	if got := browsertest.Run(t, disp, "status", chromedp.Text(chromedp.ID("status"))); got != "已结案" {
		t.Errorf("status shows %q", got)
	}
	shot(t, disp, shots, "7-ticket-closed.png")
	browsertest.Do(t, disp, "audit log", chromedp.Navigate(e.srv.URL+"/desk/audit?ticket="+tk.Number), chromedp.WaitVisible(chromedp.CSS("table.audit")))
	shot(t, disp, shots, "8-audit.png")
	browsertest.Do(t, disp, "find a ticket", chromedp.Navigate(e.srv.URL+"/desk/search"), chromedp.WaitVisible(chromedp.ID("number")))
	shot(t, disp, shots, "9-search.png")
	browsertest.Do(t, li, "English inbox", chromedp.Navigate(e.srv.URL+"/desk/inbox?lang=en"), chromedp.WaitVisible(chromedp.ID("inbox")))
	shot(t, li, shots, "10-inbox-en.png")

	for _, a := range []string{"dispatch", "accept", "extend", "decide_extension", "handle", "reveal_phone", "verify"} {
		if len(e.audited(t, tk.Number, a)) != 1 {
			t.Errorf("audit: %s not recorded once", a)
		}
	}
}

// browserContext is a tab in a browser context of its own: its own cookies.
func browserContext(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if _, err := chromedp.Run(ctx, chromedp.Steps()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			shot(t, ctx, os.TempDir(), "desks-failure-"+time.Now().Format("150405.000")+".png")
		}
	})
	return ctx
}

func signIn(t *testing.T, ctx context.Context, base, name, landmark string) {
	t.Helper()
	browsertest.Do(t, ctx, "sign in as "+name,
		chromedp.Navigate(base+"/desk?lang=zh"),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("password"), password),
		browsertest.Leave(chromedp.Submit(chromedp.ID("password"))),
		chromedp.WaitVisible(chromedp.ID(landmark)))
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o640); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", p)
}

// waitStatus waits until the store has the ticket in status: a click's
// navigation may show the page before the test reads the store.
func waitStatus(t *testing.T, e *env, number string, want ticketing.Status) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); ; {
		if got := e.ticket(t, number); got.Status == want {
			return
		} else if time.Now().After(end) {
			t.Fatalf("ticket %s is %s, want %s", number, got.Status, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
