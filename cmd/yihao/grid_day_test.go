package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
	"github.com/yihao-city/yihao/internal/browsertest"
)

// gridDayConfig is the grid of the walk-through: the 东城 district's
// centre and the 安定门 street's under it, the district's city management
// committee (lead) and the street's city management office (assisting),
// and a supervisor of 国子监 community.
const gridDayConfig = `insecure_cookies: true
users:
  - {name: dist.disp, display: 东城区中心, role: dispatcher, area: "110101", password: grid-district-pw}
  - {name: street.disp, display: 安定门街道中心, role: dispatcher, area: "110101001", password: grid-street-pw}
  - {name: li.dccgw, display: 东城区城管委, role: liaison, department: dc-cgw, password: grid-liaison-pw}
  - {name: li.admcgk, display: 安定门街道城管科, role: liaison, department: adm-cgk, password: grid-liaison-pw}
  - {name: sup.li, display: 李监督员, role: supervisor, area: "110101001001", password: grid-supervisor-pw}
`

// A day on the street, through the real binary in headless Chromium: a
// supervisor's phone (a phone's size, its position faked) reports a broken
// manhole cover with the network cut, and it arrives once when the network
// returns; the district centre files it and hands it down to the street;
// the street raises it back with a reason; the district dispatches it to
// its city management committee with the street's office assisting; both
// report; the 核查 reaches the supervisor's phone, who sends it back once
// as not fixed and passes it the second time; the case closes. A
// citizen's WeChat report of street vending in another cell (the words
// first, where second, as WeChat users send them) waits for the
// supervisor's 核实 and is filed once it is found real; the district's
// indicators count what the supervisor found, and rank its streets by
// their composite score. Screens go to
// $YIHAO_SCREENSHOTS.
func TestGridDayInBrowser(t *testing.T) {
	browsertest.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	shots := browsertest.Screenshots(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "grid.yaml")
	if err := os.WriteFile(config, []byte(gridDayConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	photo := filepath.Join(dir, "井盖.jpg")
	e2eWriteJPEG(t, photo, 640, 480)
	acct := wechattest.NewAccount()
	fake := wechattest.NewFakeAPI(t, acct.AppID, "grid-wechat-secret")
	srv := e2eStart(ctx, t, map[string]string{"YIHAO_CONFIG": config, "YIHAO_DATA_DIR": dir,
		"YIHAO_WECHAT_APP_ID": acct.AppID, "YIHAO_WECHAT_APP_SECRET": "grid-wechat-secret", "YIHAO_WECHAT_TOKEN": acct.Token,
		"YIHAO_WECHAT_AES_KEY": acct.AESKey, "YIHAO_WECHAT_API_BASE": fake.URL})

	b := browsertest.Start(ctx, t, 1280, 900)
	phone, district, street, lead, assist := dayTab(t, b), dayTab(t, b), dayTab(t, b), dayTab(t, b), dayTab(t, b)
	shot := func(tab context.Context, name string) { browsertest.Shot(t, tab, shots, name) }
	wait, offline := browsertest.Until, browsertest.Offline

	// Morning, 国子监 community: the supervisor's phone signs in.
	browsertest.Do(t, phone, "a phone with a position",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		browsertest.Position(srv.base, 39.95, 116.37),
		browsertest.Leave(chromedp.Navigate(srv.base+"/field/")),
		chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name="name"]`), "sup.li"),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name="password"]`), "grid-supervisor-pw"),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("report-form")),
		wait(`document.getElementById("position").textContent.includes("39.95")`))

	// A broken manhole cover, reported where there is no signal.
	browsertest.Do(t, phone, "report offline",
		offline(true),
		chromedp.SetValue(chromedp.ID("category"), "0103"),
		chromedp.SetUploadFiles(chromedp.ID("photo"), []string{photo}),
		chromedp.WaitVisible(chromedp.ID("preview")),
		chromedp.SendKeys(chromedp.ID("text"), "国子监街口污水井盖破损，已设锥桶"),
		chromedp.Click(chromedp.ID("send")),
		wait(`document.getElementById("report-status").textContent.includes("信号恢复后自动发送") && !flushing`),
		chromedp.Click(chromedp.CSS(`nav button[data-view="outbox"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#outbox li.waiting`)))
	shot(phone, "grid-1-phone-offline.png")
	browsertest.Do(t, phone, "the signal returns", offline(false), chromedp.WaitVisible(chromedp.CSS(`#sent li.sent`)))
	number := browsertest.Run(t, phone, "the ticket number", chromedp.Text(chromedp.CSS(`#sent li.sent .number`)))
	if n := browsertest.Run(t, phone, "sent once", chromedp.Evaluate[int](`document.querySelectorAll("#sent li.sent").length`)); n != 1 {
		t.Fatalf("the phone sent %d reports", n)
	}
	shot(phone, "grid-2-phone-sent.png")
	ticket := srv.base + "/desk/tickets/" + number

	// The district centre files it and hands it down to the street.
	daySignIn(t, district, srv.base, "dist.disp", "grid-district-pw", "sec-triage")
	browsertest.Do(t, district, "the district's triage lists it", chromedp.WaitVisible(chromedp.CSS(`#sec-triage tr[data-number="`+number+`"]`)))
	shot(district, "grid-3-district-triage.png")
	browsertest.Do(t, district, "file it", chromedp.Navigate(ticket), chromedp.WaitVisible(chromedp.ID("act-register")),
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#act-register button[type="submit"]`))))
	dayDone(t, district, "file")
	browsertest.Do(t, district, "hand it down", chromedp.WaitVisible(chromedp.ID("act-hand_down")),
		chromedp.SetValue(chromedp.CSS(`#act-hand_down select[name="centre"]`), "110101001"),
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#act-hand_down button[type="submit"]`))))
	dayDone(t, district, "hand down")

	// The street cannot solve it: the pipes are the district's. It raises it.
	daySignIn(t, street, srv.base, "street.disp", "grid-street-pw", "sec-triage")
	browsertest.Do(t, street, "raise it", chromedp.Navigate(ticket), chromedp.WaitVisible(chromedp.ID("act-raise")),
		chromedp.SendKeys(chromedp.CSS(`#act-raise textarea[name="reason"]`), "井下管网属区水务，街道无权处置"),
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#act-raise button[type="submit"]`))))
	dayDone(t, street, "raise")
	shot(street, "grid-4-street-raised.png")

	// The district dispatches it, with the street's office assisting.
	browsertest.Do(t, district, "dispatch with an assisting department", chromedp.Navigate(ticket), chromedp.WaitVisible(chromedp.ID("act-dispatch")),
		chromedp.SetValue(chromedp.ID("dispatch-department"), "dc-cgw"),
		chromedp.SetValue(chromedp.ID("dispatch-assisting"), "adm-cgk"),
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#act-dispatch button[type="submit"]`))))
	dayDone(t, district, "dispatch")
	shot(district, "grid-5-district-dispatched.png")

	// Both departments report: the assisting office its part, then the lead.
	daySignIn(t, assist, srv.base, "li.admcgk", "grid-liaison-pw", "inbox")
	browsertest.Do(t, assist, "report the part", chromedp.Navigate(ticket), chromedp.WaitVisible(chromedp.ID("act-report_part")),
		chromedp.SendKeys(chromedp.CSS(`#act-report_part textarea[name="result"]`), "已设置围挡，疏导行人"),
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#act-report_part button[type="submit"]`))))
	dayDone(t, assist, "report the part")
	daySignIn(t, lead, srv.base, "li.dccgw", "grid-liaison-pw", "inbox")
	handle := func(result string) {
		t.Helper()
		browsertest.Do(t, lead, "report the result", chromedp.Navigate(ticket), chromedp.WaitVisible(chromedp.ID("act-handle")),
			chromedp.SendKeys(chromedp.CSS(`#act-handle textarea[name="result"]`), result),
			browsertest.Leave(chromedp.Click(chromedp.CSS(`#act-handle button[type="submit"]`))))
		dayDone(t, lead, "report the result")
	}
	browsertest.Do(t, lead, "accept", chromedp.Navigate(ticket), chromedp.WaitVisible(chromedp.ID("act-accept")),
		browsertest.Leave(chromedp.Click(chromedp.CSS(`#act-accept button`))))
	dayDone(t, lead, "accept")
	handle("已更换井盖")
	shot(lead, "grid-6-lead-handled.png")

	// The 核查 reaches the phone: not fixed the first time, then fixed.
	task := `#tasks li[data-number="` + number + `"]`
	// The list is drawn again when its tab is opened: wait for the new one.
	tasks := chromedp.Steps(
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.getElementById("tasks").dataset.loaded = ""; true`)(ctx, tg)
			return err
		}),
		chromedp.Click(chromedp.CSS(`nav button[data-view="tasks"]`)),
		wait(`document.getElementById("tasks").dataset.loaded !== ""`))
	inspect := func(outcome, note string) {
		t.Helper()
		browsertest.Do(t, phone, "inspect "+outcome,
			tasks,
			chromedp.WaitVisible(chromedp.CSS(task+`[data-task="inspect"]`)),
			chromedp.SetUploadFiles(chromedp.CSS(task+` .task-photo`), []string{photo}),
			chromedp.SendKeys(chromedp.CSS(task+` .task-note`), note),
			chromedp.Click(chromedp.CSS(task+` button[data-outcome="`+outcome+`"]`)),
			chromedp.WaitNotPresent(chromedp.CSS(task)))
	}
	browsertest.Do(t, phone, "the task list", tasks, chromedp.WaitVisible(chromedp.CSS(task+`[data-task="inspect"]`)))
	shot(phone, "grid-7-phone-task.png")
	inspect("no", "井盖仍有晃动")
	handle("已加固井盖底座")
	inspect("yes", "")
	browsertest.Do(t, district, "closed", chromedp.Navigate(ticket), wait(`document.getElementById("status").textContent.includes("结案")`))
	log := browsertest.Run(t, district, "the log", chromedp.Text(chromedp.CSS(".timeline")))
	for _, step := range []string{"区级中心 110101 → 街道中心 110101001", "街道中心 110101001 → 区级中心 110101：井下管网属区水务", "adm-cgk：已设置围挡", "核查：井盖仍有晃动", "返工"} {
		if !strings.Contains(log, step) {
			t.Errorf("the log lacks %q", step)
		}
	}
	if n := browsertest.Run(t, district, "site photos", chromedp.Evaluate[int](`document.querySelectorAll("#site-photos img").length`)); n != 2 {
		t.Errorf("the page shows %d photos from the two 核查, want 2", n)
	}
	shot(district, "grid-8-district-closed.png")

	// A citizen's WeChat report of street vending in another cell, a type
	// confirmed on site first: the words make the ticket, the location sent
	// next (WeChat's GCJ-02 of 39.951, 116.373: 国子监's cell 052, the
	// manhole cover's is 051) places it on its cell, and
	// it waits for the cell's supervisor, who finds it real; it is filed.
	wx := srv.base + "/wechat"
	status, reply := acct.Push(t, wx, wechat.Inbound{FromUserName: "oGridDay", MsgType: "text", MsgID: 9001,
		Content: "国子监街有流动摊贩占道经营，行人难以通行"}, true)
	vending := regexp.MustCompile(`\d{14}`).FindString(replyText(reply))
	if status != 200 || vending == "" {
		t.Fatalf("the citizen's WeChat report: %d %+v", status, reply)
	}
	status, reply = acct.Push(t, wx, wechat.Inbound{FromUserName: "oGridDay", MsgType: "location", MsgID: 9002,
		LocationX: 39.952388, LocationY: 116.379229, Label: "国子监街"}, true)
	if status != 200 || !strings.Contains(replyText(reply), vending) {
		t.Fatalf("the citizen's location: %d %+v", status, reply)
	}
	confirm := `#tasks li[data-number="` + vending + `"]`
	browsertest.Do(t, phone, "核实 on the phone", tasks,
		chromedp.WaitVisible(chromedp.CSS(confirm+`[data-task="confirm"]`)),
		chromedp.SetUploadFiles(chromedp.CSS(confirm+` .task-photo`), []string{photo}),
		chromedp.Click(chromedp.CSS(confirm+` button[data-outcome="yes"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(confirm)))
	browsertest.Do(t, district, "filed after 核实", chromedp.Navigate(srv.base+"/desk/tickets/"+vending),
		wait(`document.getElementById("status").textContent.includes("已立案")`))
	if body := browsertest.Run(t, district, "its cell", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(body, "110101001001052") {
		t.Errorf("the citizen's report is not on cell 110101001001052:\n%s", body)
	}
	shot(district, "grid-9-confirmed.png")

	// The district's indicators count what the supervisor found.
	browsertest.Do(t, district, "indicators", chromedp.Navigate(srv.base+"/desk/indicators?period=week"), chromedp.WaitVisible(chromedp.ID("rates")))
	if found := browsertest.Run(t, district, "主动发现率", chromedp.Text(chromedp.CSS(`[data-rate="found_rate"]`))); found == "—" || found == "" {
		t.Errorf("主动发现率 = %q", found)
	}
	shot(district, "grid-10-indicators.png")
	// The streets ranked by their composite score: 安定门, whose case closed,
	// is scored and first.
	browsertest.Do(t, district, "ranking", chromedp.Navigate(srv.base+"/desk/indicators?period=week&by=street"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="110101001"][data-rank="1"]`)))
	if score := browsertest.Run(t, district, "安定门's score", chromedp.Text(chromedp.CSS(`tr[data-key="110101001"] td[data-score]`))); score == "—" || score == "" {
		t.Errorf("安定门's composite score = %q", score)
	}
	shot(district, "grid-11-ranking.png")
	// The community, ranked among communities, and the supervisor's own
	// figures: one report, filed; one 核实 and two 核查, all in time.
	browsertest.Do(t, district, "communities", chromedp.Navigate(srv.base+"/desk/indicators?period=week&by=community"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="110101001001"][data-rank="1"]`)))
	browsertest.Do(t, district, "supervisors", chromedp.Navigate(srv.base+"/desk/indicators?period=week&by=supervisor"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="sup.li"]`)))
	figures := browsertest.Run(t, district, "sup.li's row", chromedp.Evaluate[map[string]string](`Object.fromEntries(
		[...document.querySelectorAll('tr[data-key="sup.li"] td[data-col]')].map(td => [td.dataset.col, td.textContent]))`))
	for col, want := range map[string]string{"reported": "1", "found": "1", "confirmed": "1", "inspected": "2",
		"valid_report_rate": "100.0%", "on_time_confirm_rate": "100.0%", "on_time_inspect_rate": "100.0%"} {
		if figures[col] != want {
			t.Errorf("sup.li's %s = %q, want %q (row: %v)", col, figures[col], want, figures)
		}
	}
	if name := browsertest.Run(t, district, "sup.li's name", chromedp.Text(chromedp.CSS(`tr[data-key="sup.li"]`))); !strings.Contains(name, "李监督员") {
		t.Errorf("the supervisor's row does not name them: %q", name)
	}
	shot(district, "grid-12-supervisors.png")
}
