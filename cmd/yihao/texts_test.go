package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/hotline/sipptest"
)

// Every caller hears back, through the real binary, with sipp as the
// phone network's SMS gateway over SIP: three callers' tickets are logged
// while the gateway is down; their texts wait and, once it is up, each
// arrives once with the ticket number and a tracking link that opens the
// ticket. One citizen replies TD and hears nothing more; the other's
// handled text asks for a rating, and the reply 3 (不满意) lands on the
// ticket and reopens it.
func TestTextsEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	gwPort := sipptest.FreePort(t)
	config := filepath.Join(dir, "texts.yaml")
	if err := os.WriteFile(config, []byte(`insecure_cookies: true
sip:
  gateways: ["sip:127.0.0.1:`+strconv.Itoa(gwPort)+`;transport=tcp"]
  agents:
    - {ext: "2001", name: 王芳, password: texts-wangfang-pw}
texts:
  gateway: sip
  track_url: http://12345.test
  quiet: "off"
  poll: 100ms
  retry_max: 1s
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"YIHAO_CONFIG": config, "YIHAO_DATA_DIR": dir}
	cli := yihaoCLI(ctx, t, env)
	token := func(args ...string) string {
		return strings.TrimSpace(cli(append([]string{"token", "create"}, args...)...))
	}
	admin := token("--role", "admin")
	sipPort := sipptest.FreePort(t)
	sipAddr := "127.0.0.1:" + strconv.Itoa(sipPort)
	env["YIHAO_SIP_ADDR"] = sipAddr
	srv := e2eStart(ctx, t, env)

	// The agent logs three calls while the gateway is down.
	agent := textsLogin(t, srv.base, "2001", "texts-wangfang-pw")
	callers := []string{"13800138001", "13800138002", "13800138003"}
	numbers := map[string]string{}
	for _, c := range callers {
		numbers[c] = textsCall(t, srv.base, agent, c, "和平路14号路灯不亮，晚上一片漆黑。")
	}
	textsWait(t, "the gateway's failures in the log", func() bool { return strings.Count(srv.stderr.String(), "sms notice not sent") >= 3 })

	// The gateway comes up: each caller's filed text arrives, once.
	gw := sipptest.Start(t, "texts_gateway_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(gwPort), "-t", "t1")
	texts := func() map[string][]string { return textsReceived(t, gw.Dir) }
	textsWait(t, "three filed texts", func() bool { return len(texts()) == 3 })
	link := regexp.MustCompile(`http://12345\.test/t/([0-9]{14})\?token=([a-z2-7]{16})`)
	for _, c := range callers {
		got := texts()[c]
		if len(got) != 1 || !strings.Contains(got[0], "您反映的问题已受理，工单号"+numbers[c]) {
			t.Fatalf("texts to %s: %q", c, got)
		}
		m := link.FindStringSubmatch(got[0])
		if m == nil || m[1] != numbers[c] {
			t.Fatalf("no tracking link for %s in %q", numbers[c], got[0])
		}
		if code, body := textsGet(t, srv.base+"/t/"+m[1]+"?token="+m[2], ""); code != http.StatusOK || !strings.Contains(body, numbers[c]) {
			t.Fatalf("the text's link: %d", code)
		}
	}

	// The second citizen opts out by reply.
	textsSend(t, sipAddr, callers[1], "TD")
	textsWait(t, "the opt-out's answer", func() bool { return len(texts()[callers[1]]) == 2 })
	if got := texts()[callers[1]][1]; !strings.Contains(got, "已退订") {
		t.Fatalf("answer to TD: %q", got)
	}

	// Both tickets are handled and closed; only the first citizen hears.
	for _, c := range callers[:2] {
		textsClose(t, ctx, srv.base, admin, numbers[c], token)
	}
	textsWait(t, "the handled text", func() bool { return len(texts()[callers[0]]) == 2 })
	if got := texts()[callers[0]][1]; !strings.Contains(got, "您的工单"+numbers[callers[0]]+"已办结。请回复数字评价") {
		t.Fatalf("handled text: %q", got)
	}

	// 3 (不满意) by reply: rated, reopened, answered.
	textsSend(t, sipAddr, callers[0], "3")
	textsWait(t, "the rating's answer", func() bool { return len(texts()[callers[0]]) == 3 })
	if got := texts()[callers[0]][2]; !strings.Contains(got, "已重新办理") {
		t.Fatalf("answer to 3: %q", got)
	}
	tk := textsTicket(t, srv.base, admin, numbers[callers[0]])
	if tk.Status != "registered" {
		t.Errorf("after 不满意 the ticket is %s, want registered (reopened)", tk.Status)
	}
	var rated bool
	for _, e := range tk.Events {
		rated = rated || (e.Type == "evaluated" && e.Actor == "citizen:sms")
	}
	if !rated {
		t.Errorf("no evaluation by SMS in the log: %+v", tk.Events)
	}
	if got := texts()[callers[1]]; len(got) != 2 {
		t.Errorf("the citizen who opted out got %d texts: %q", len(got), got)
	}
	if got := texts()[callers[2]]; len(got) != 1 {
		t.Errorf("the third caller got %d texts: %q", len(got), got)
	}
}

func textsWait(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within 45s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var textsLine = regexp.MustCompile(`text sip:([0-9]+) (.*)`)

// textsReceived reads the gateway's log: the texts by recipient, in order.
func textsReceived(t *testing.T, dir string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "logs.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := textsLine.FindStringSubmatch(line); m != nil {
			out[m[1]] = append(out[m[1]], m[2])
		}
	}
	return out
}

// textsSend is a citizen's text to 12345, through the gateway's address.
func textsSend(t *testing.T, sipAddr, from, text string) {
	t.Helper()
	res := sipptest.Run(t, "message_uac.xml", sipAddr, "-s", "12345", "-d", "100", "-m", "1", "-i", "127.0.0.1", "-t", "u1",
		"-set", "caller", from, "-set", "text", text, "-timeout", "20s")
	if res.Successful != 1 {
		t.Fatalf("text %q from %s: %s", text, from, res)
	}
}

func textsDo(t *testing.T, method, u, bearer string, body io.Reader, headers ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func textsGet(t *testing.T, u, bearer string) (int, string) {
	t.Helper()
	code, b := textsDo(t, "GET", u, bearer, nil, "Accept", "application/json")
	return code, string(b)
}

func textsLogin(t *testing.T, base, ext, password string) string {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/agent/login", strings.NewReader(url.Values{"ext": {ext}, "password": {password}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Value != "" {
			return ck.Name + "=" + ck.Value
		}
	}
	t.Fatalf("agent sign-in: %d, no cookie", resp.StatusCode)
	return ""
}

// textsCall is the agent logging a call's ticket; it returns the number.
func textsCall(t *testing.T, base, cookie, caller, text string) string {
	t.Helper()
	code, b := textsDo(t, "POST", base+"/agent/tickets", "", strings.NewReader(url.Values{"seq": {"1"}, "caller": {caller}, "text": {text}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Cookie", cookie)
	var out struct {
		Number string `json:"number"`
	}
	if err := json.Unmarshal(b, &out); err != nil || code != http.StatusOK || out.Number == "" {
		t.Fatalf("agent's ticket for %s: %d %s", caller, code, b)
	}
	return out.Number
}

type textsView struct {
	Status     string `json:"status"`
	Department string `json:"department"`
	Events     []struct {
		Type  string `json:"type"`
		Actor string `json:"actor"`
	} `json:"events"`
}

func textsTicket(t *testing.T, base, bearer, number string) textsView {
	t.Helper()
	code, body := textsGet(t, base+"/api/v1/desk/tickets/"+number, bearer)
	var v textsView
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != http.StatusOK {
		t.Fatalf("ticket %s: %d %s", number, code, body)
	}
	return v
}

// textsClose takes a ticket through its department to 结案: dispatched
// when routing left it waiting, accepted and handled by the department's
// liaison, closed by the centre's 核查.
func textsClose(t *testing.T, ctx context.Context, base, admin, number string, token func(...string) string) {
	t.Helper()
	act := func(bearer, action string, body any) {
		t.Helper()
		b, _ := json.Marshal(body)
		code, out := textsDo(t, "POST", base+"/api/v1/desk/tickets/"+number+"/"+action, bearer, bytes.NewReader(b),
			"Content-Type", "application/json", "Accept", "application/json")
		if code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", action, number, code, out)
		}
	}
	tk := textsTicket(t, base, admin, number)
	if tk.Department == "" {
		act(admin, "dispatch", map[string]string{"category": "street_lights"})
		tk = textsTicket(t, base, admin, number)
	}
	liaison := token("--role", "liaison", "--department", tk.Department)
	act(liaison, "accept", map[string]string{})
	act(liaison, "handle", map[string]string{"result": "已更换灯泡，夜间照明恢复。"})
	act(admin, "verify", map[string]any{"pass": true})
	if got := textsTicket(t, base, admin, number); got.Status != "closed" {
		t.Fatalf("ticket %s is %s after 核查, want closed", number, got.Status)
	}
}
