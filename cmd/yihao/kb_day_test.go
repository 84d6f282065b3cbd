package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yihao-city/yihao/channels/hotline/sipptest"
	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
	"github.com/yihao-city/yihao/internal/browsertest"
)

// kbDayConfig is the centre of the knowledge-base walk-through: the demo
// city's knowledge base, one agent, a dispatcher.
const kbDayConfig = `insecure_cookies: true
kb_seed: demo
sip:
  agents:
    - {ext: "2001", name: 王芳, password: kb-wangfang-pw}
users:
  - {name: zhao.disp, display: 赵派单, role: dispatcher, password: kb-dispatcher-pw}
`

// transferQuestion is the demo article on moving one's social insurance
// to another province.
const transferQuestion = "社保关系跨省转移怎么办理？"

// Answered on the spot, through the real binary in headless Chromium: a
// citizen calls 12345 about moving their social insurance; four
// characters into the agent's typing the right article is the first
// suggestion, and the call closes as 直办 with it. On WeChat the same
// question is answered at once, from the same article. The public FAQ page
// finds it from a phrasing a speech recogniser garbled (设保 for 社保).
// The indicators count both answers against the article. Screens go to
// $YIHAO_SCREENSHOTS.
func TestKnowledgeDayInBrowser(t *testing.T) {
	browsertest.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	shots := browsertest.Screenshots(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "kb.yaml")
	if err := os.WriteFile(config, []byte(kbDayConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	acct := wechattest.NewAccount()
	fake := wechattest.NewFakeAPI(t, acct.AppID, "kb-wechat-secret")
	sipPort := sipptest.FreePort(t)
	sipAddr := "127.0.0.1:" + strconv.Itoa(sipPort)
	srv := e2eStart(ctx, t, map[string]string{"YIHAO_CONFIG": config, "YIHAO_DATA_DIR": dir, "YIHAO_SIP_ADDR": sipAddr,
		"YIHAO_WECHAT_APP_ID": acct.AppID, "YIHAO_WECHAT_APP_SECRET": "kb-wechat-secret", "YIHAO_WECHAT_TOKEN": acct.Token,
		"YIHAO_WECHAT_AES_KEY": acct.AESKey, "YIHAO_WECHAT_API_BASE": fake.URL})

	b := browsertest.Start(ctx, t, 1280, 900)
	agent, citizen, disp := dayTab(t, b), dayTab(t, b), dayTab(t, b)
	shot := func(tab context.Context, name string) { browsertest.Shot(t, tab, shots, name) }
	wait := browsertest.Until

	// The agent's softphone registers; the agent signs in; a citizen calls.
	dayAgent(t, agent, srv.base, sipAddr, "2001", "kb-wangfang-pw")
	const caller = "13912340000"
	sipptest.Start(t, "caller_uac.xml", sipAddr, "-s", "12345", "-d", "4000", "-set", "caller", caller,
		"-m", "1", "-i", "127.0.0.1", "-t", "u1")
	browsertest.Do(t, agent, "screen pop", wait(`document.getElementById("caller").textContent === "+86`+caller+`"`))

	// Four characters of the caller's question: the article is first.
	browsertest.Do(t, agent, "typing the question",
		chromedp.SendKeys(chromedp.ID("f_text"), "社保转移"),
		wait(`(document.querySelector("#kb li .q") || {}).textContent === "`+transferQuestion+`"`))
	shot(agent, "kb-1-agent-suggests.png")
	browsertest.Do(t, agent, "answer with it",
		chromedp.SendKeys(chromedp.ID("f_text"), "到外省，怎么办手续"),
		chromedp.Click(chromedp.CSS(`#kb li:first-child button.use`)),
		chromedp.WaitVisible(chromedp.ID("f_answer")),
		chromedp.Click(chromedp.CSS(`#ticket button[type="submit"]`)),
		wait(`document.getElementById("result").textContent.includes("直办")`))
	shot(agent, "kb-2-agent-answered.png")

	// WeChat: the same question, answered at once from the same article.
	status, reply := acct.Push(t, srv.base+"/wechat", wechat.Inbound{FromUserName: "oKBDay", MsgType: "text", MsgID: 7001,
		Content: "你好，我换到外省工作了，社保关系怎么转过去"}, true)
	if text := replyText(reply); status != 200 || !strings.Contains(text, "12345 知识库："+transferQuestion) || !strings.Contains(text, "回复「1」") {
		t.Fatalf("WeChat: %d %q", status, text)
	}

	// The FAQ page, asked with the recogniser's homophone.
	browsertest.Do(t, citizen, "faq",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Navigate(srv.base+"/faq?q="+url.QueryEscape("设保关系转到外省去咋办")),
		chromedp.WaitVisible(chromedp.ID("answers")))
	if first := browsertest.Run(t, citizen, "the first answer", chromedp.Text(chromedp.CSS(`#answers li:first-child h2`))); first != transferQuestion {
		t.Errorf("the FAQ's first answer to a garbled question: %q", first)
	}
	shot(citizen, "kb-3-faq.png")

	// The indicators: the article answered twice (the call, WeChat).
	daySignIn(t, disp, srv.base, "zhao.disp", "kb-dispatcher-pw", "sec-triage")
	browsertest.Do(t, disp, "indicators by article", chromedp.Navigate(srv.base+"/desk/indicators?period=week&by=article"),
		chromedp.WaitVisible(chromedp.ID("rates")))
	answered := browsertest.Run(t, disp, "the article's row", chromedp.Evaluate[string](`(function () {
		for (const tr of document.querySelectorAll("tr[data-key]")) {
			if (tr.textContent.includes("`+transferQuestion+`")) return tr.querySelector('td[data-col="kb_answered"]').textContent;
		}
		return "";
	})()`))
	if answered != "2" {
		t.Errorf("the article answered %q calls on the indicators, want 2", answered)
	}
	if rate := browsertest.Run(t, disp, "直办率", chromedp.Text(chromedp.CSS(`[data-rate="direct_rate"]`))); rate == "—" || rate == "" {
		t.Errorf("直办率 = %q", rate)
	}
	shot(disp, "kb-4-indicators.png")
}
