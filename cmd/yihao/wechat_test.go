package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
)

// The binary as WeChat sees it: configured by YIHAO_WECHAT_* with the API
// pointed at a fake, it answers the URL check and a safe-mode push with
// the new ticket's number, and tells the citizen "查询" results.
func TestWeChatEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	acct := wechattest.NewAccount()
	fake := wechattest.NewFakeAPI(t, acct.AppID, "s3cret")
	srv := e2eStart(ctx, t, map[string]string{
		"YIHAO_DATA_DIR":          t.TempDir(),
		"YIHAO_WECHAT_APP_ID":     acct.AppID,
		"YIHAO_WECHAT_APP_SECRET": "s3cret",
		"YIHAO_WECHAT_TOKEN":      acct.Token,
		"YIHAO_WECHAT_AES_KEY":    acct.AESKey,
		"YIHAO_WECHAT_API_BASE":   fake.URL,
	})
	url := srv.base + "/wechat"
	acct.Verify(t, url)
	status, reply := acct.Push(t, url, wechat.Inbound{FromUserName: "oE2E", MsgType: "text", MsgID: 42, Content: "东华门大街路灯不亮"}, true)
	number := regexp.MustCompile(`\d{14}`).FindString(replyText(reply))
	if status != 200 || number == "" {
		t.Fatalf("push: %d %+v", status, reply)
	}
	_, reply = acct.Push(t, url, wechat.Inbound{FromUserName: "oE2E", MsgType: "text", MsgID: 43, Content: "查询 " + number}, true)
	if got := replyText(reply); !regexp.MustCompile(number + `：`).MatchString(got) {
		t.Fatalf("query: %q", got)
	}
}

func replyText(r *wechattest.ReplyMsg) string {
	if r == nil {
		return ""
	}
	return r.Content
}

// `yihao bench wechat` against the running binary: every push answered
// with a number, none twice.
func TestBenchWeChat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	acct := wechattest.NewAccount()
	srv := e2eStart(ctx, t, map[string]string{
		"YIHAO_DATA_DIR": t.TempDir(), "YIHAO_WECHAT_APP_ID": acct.AppID,
		"YIHAO_WECHAT_TOKEN": acct.Token, "YIHAO_WECHAT_AES_KEY": acct.AESKey,
	})
	var out bytes.Buffer
	err := run(ctx, []string{"bench", "wechat", "--url", srv.base + "/wechat", "--app-id", acct.AppID, "--token", acct.Token,
		"--aes-key", acct.AESKey, "--n", "60", "--c", "8"}, func(string) string { return "" }, &out, &out)
	if err != nil || !strings.Contains(out.String(), "answered with a number  60") {
		t.Fatalf("bench wechat: %v\n%s", err, out.String())
	}
}

// A WeChat token without an AES key and without plaintext asked for is a
// configuration error at start, naming the two ways out; asked for, the
// server starts and warns.
func TestWeChatPlaintextRefusedUnlessAsked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vars := map[string]string{"YIHAO_DATA_DIR": t.TempDir(), "YIHAO_HTTP_ADDR": "127.0.0.1:0", "YIHAO_SIP_ADDR": "off",
		"YIHAO_WECHAT_TOKEN": "a-token"}
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"serve"}, func(k string) string { return vars[k] }, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "YIHAO_WECHAT_AES_KEY") || !strings.Contains(err.Error(), "YIHAO_WECHAT_PLAINTEXT=true") {
		t.Fatalf("serve without an AES key: %v, want a refusal naming both settings", err)
	}
	srv := e2eStart(ctx, t, map[string]string{"YIHAO_DATA_DIR": t.TempDir(), "YIHAO_WECHAT_TOKEN": "a-token", "YIHAO_WECHAT_PLAINTEXT": "true"})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(srv.stderr.String(), "WECHAT PLAINTEXT MODE") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about plaintext mode:\n%s", srv.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
