package attacks

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
)

// A push URL leaks (a proxy's log, a screenshot): within the replay window
// someone posts another message through it, as another citizen. The hub
// refuses it and files nothing, while WeChat's own retry of the genuine
// push still gets the same ticket number.
func TestWeChatLeakedURLReplay(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		acct := wechattest.NewAccount()
		fake := wechattest.NewFakeAPI(t, acct.AppID, "attack-suite-secret")
		s := Start(t, store, Options{NoSIP: true, Env: map[string]string{
			"YIHAO_WECHAT_APP_ID": acct.AppID, "YIHAO_WECHAT_APP_SECRET": "attack-suite-secret",
			"YIHAO_WECHAT_TOKEN": acct.Token, "YIHAO_WECHAT_AES_KEY": acct.AESKey,
			"YIHAO_WECHAT_API_BASE": fake.URL,
		}})
		now := time.Now()
		genuine := wechat.Inbound{ToUserName: acct.Name, FromUserName: "o-citizen", CreateTime: now.Unix(),
			MsgType: "text", Content: "东华门大街路灯不亮", MsgID: 5001}
		enc := acct.Encrypt(t, wechattest.MessageXML(genuine))
		leaked := acct.PushURL(s.Base+"/wechat", now, wechattest.Nonce(), enc)
		body := wechattest.Envelope(acct.Name, enc)

		number := func(answer []byte) string {
			r := acct.DecodeReply(t, answer, true)
			if r == nil {
				return ""
			}
			return regexp.MustCompile(`\d{14}`).FindString(r.Content)
		}
		status, answer := acct.Post(t, leaked, body)
		first := number(answer)
		if status != http.StatusOK || first == "" {
			t.Fatalf("the genuine push: %d %s", status, answer)
		}
		if status, answer = acct.Post(t, leaked, body); status != http.StatusOK || number(answer) != first {
			t.Fatalf("WeChat's retry of the genuine push: %d %s, want 200 with %s", status, answer, first)
		}

		forged := genuine
		forged.FromUserName, forged.Content, forged.MsgID = "o-victim", "举报邻居（伪造）", 5002
		if status, answer = acct.Post(t, leaked, wechattest.Envelope(acct.Name, acct.Encrypt(t, wechattest.MessageXML(forged)))); status != http.StatusForbidden {
			t.Fatalf("the leaked URL with another message: %d %s, want 403", status, answer)
		}

		// Nothing was filed for the victim: the next genuine report gets the
		// number right after the first.
		next := genuine
		next.FromUserName, next.MsgID, next.Content = "o-neighbour", 5003, "东华门大街井盖缺失" // another citizen: no follow-up of the first
		status, reply := acct.Push(t, s.Base+"/wechat", next, true)
		if status != http.StatusOK || reply == nil {
			t.Fatalf("the next genuine push: %d", status)
		}
		second := regexp.MustCompile(`\d{14}`).FindString(reply.Content)
		if second == "" || sequence(t, second) != sequence(t, first)+1 {
			t.Errorf("ticket numbers %s then %s: something was filed in between", first, second)
		}
	})
}

// sequence is the store's id within a ticket number (the seven digits
// after the day).
func sequence(t *testing.T, number string) int {
	t.Helper()
	n, err := strconv.Atoi(number[6:13])
	if err != nil {
		t.Fatalf("ticket number %q: %v", number, err)
	}
	return n
}
