package field_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/yihao-city/yihao/internal/browsertest"
	"github.com/yihao-city/yihao/ticketing"
)

// A supervisor's phone in headless Chromium, at a phone's size, with its
// position faked: signed in, the supervisor reports a broken manhole cover
// with a photo while the network is cut; the report waits on the phone,
// and arrives once when the network returns. Sent again with its key (an
// answer lost on the way back), it is the same ticket. Screenshots go to
// $YIHAO_SCREENSHOTS.
func TestFieldAppOffline(t *testing.T) {
	browsertest.Need(t)
	ctx, shots := browsertest.Context(t), browsertest.Screenshots(t)
	e := newEnv(t, stores[0].open(t))
	photo := filepath.Join(t.TempDir(), "井盖.jpg")
	if err := os.WriteFile(photo, jpegBytes(t), 0o600); err != nil {
		t.Fatal(err)
	}

	phone := browsertest.Start(ctx, t, 390, 844)
	until, offline := browsertest.Until, browsertest.Offline
	browsertest.Do(t, phone, "fake the position", browsertest.Position(e.srv.URL, 39.95, 116.37))
	browsertest.Do(t, phone, "sign in",
		browsertest.Leave(chromedp.Navigate(e.srv.URL+"/field/")),
		chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name="name"]`), "li.wei"),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name="password"]`), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("report-form")),
		until(`document.getElementById("position").textContent.includes("39.95")`))
	browsertest.Shot(t, phone, shots, "field-1-report.png")

	// No signal: the report is kept on the phone.
	browsertest.Do(t, phone, "report with the network cut",
		offline(true),
		chromedp.SetValue(chromedp.ID("category"), "0103"),
		chromedp.SetUploadFiles(chromedp.ID("photo"), []string{photo}),
		chromedp.WaitVisible(chromedp.ID("preview")),
		chromedp.SendKeys(chromedp.ID("text"), "井盖破损一角，已放置锥桶"),
		chromedp.Click(chromedp.ID("send")),
		until(`document.getElementById("report-status").textContent.includes("信号恢复后自动发送") && !flushing`))
	waiting := browsertest.Run(t, phone, "the waiting report", chromedp.Evaluate[string](`localStorage.getItem("yihao.field.outbox")`))
	if !strings.Contains(waiting, `"category":"0103"`) || len(e.tickets(t)) != 0 {
		t.Fatalf("with no signal: outbox %.200s, %d tickets", waiting, len(e.tickets(t)))
	}
	browsertest.Do(t, phone, "the outbox shows it", chromedp.Click(chromedp.CSS(`nav button[data-view="outbox"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#outbox li.waiting`)))
	browsertest.Shot(t, phone, shots, "field-2-offline-outbox.png")

	// The signal returns: sent once.
	browsertest.Do(t, phone, "the network returns", offline(false),
		chromedp.WaitVisible(chromedp.CSS(`#sent li.sent`)))
	browsertest.Shot(t, phone, shots, "field-3-sent.png")
	number := browsertest.Run(t, phone, "the ticket number", chromedp.Text(chromedp.CSS(`#sent li.sent .number`)))
	ts := e.tickets(t)
	if len(ts) != 1 || ts[0].Number != number || ts[0].Channel != ticketing.ChannelField || len(ts[0].Attachments) != 1 ||
		ts[0].Category != "0103" || ts[0].Location == nil {
		t.Fatalf("after the signal returned: %d tickets %+v, the phone says %s", len(ts), ts, number)
	}

	// The same report sent again with its key: the same ticket.
	browsertest.Do(t, phone, "send it again", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`localStorage.setItem("yihao.field.outbox", `+jsString(waiting)+`); flush(); true`)(ctx, tg)
		return err
	}), until(`document.querySelectorAll("#sent li.sent").length === 2`))
	again := browsertest.Run(t, phone, "numbers", chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#sent .number"), (x) => x.textContent).join(",")`))
	if again != number+","+number || len(e.tickets(t)) != 1 {
		t.Errorf("sent again: the phone shows %s, %d tickets", again, len(e.tickets(t)))
	}

	// 自处置 from the app: fixed on the spot, closed in one step.
	browsertest.Do(t, phone, "a self-handled report",
		chromedp.Click(chromedp.CSS(`nav button[data-view="report"]`)),
		chromedp.SetValue(chromedp.ID("category"), "0101"),
		chromedp.SetUploadFiles(chromedp.ID("photo"), []string{photo}),
		chromedp.WaitVisible(chromedp.ID("preview")),
		chromedp.Click(chromedp.ID("self")),
		chromedp.WaitVisible(chromedp.ID("result")),
		chromedp.SendKeys(chromedp.ID("result"), "井盖移位，已复位"),
		chromedp.SetUploadFiles(chromedp.ID("after"), []string{photo}),
		until(`after !== null`),
		chromedp.Click(chromedp.ID("send")),
		until(`document.getElementById("report-status").textContent.includes("已上报")`))
	browsertest.Shot(t, phone, shots, "field-4-self-handled.png")
	var closed int
	for _, tk := range e.tickets(t) {
		if tk.Status == ticketing.StatusClosed && len(tk.ResultPhotos()) == 1 {
			closed++
		}
	}
	if closed != 1 || len(e.tickets(t)) != 2 {
		t.Errorf("after the self-handled report: %d tickets, %d closed with an after photo", len(e.tickets(t)), closed)
	}
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
