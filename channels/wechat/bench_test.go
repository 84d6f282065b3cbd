package wechat_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
)

// BenchmarkServePush is the message server's own work on one safe-mode
// push, without the network or the ticket: checking both signatures,
// decrypting and parsing the message, the replay checks, and sealing the
// text reply. The pushes are made (encrypted, as WeChat would) before the
// clock starts.
func BenchmarkServePush(b *testing.B) {
	a := wechattest.NewAccount()
	h := func(context.Context, *wechat.Inbound) (*wechat.Reply, error) {
		return &wechat.Reply{Text: "已收到您的反映，工单号 26120600000017，可凭工单号查询办理进度。"}, nil
	}
	srv, err := wechat.NewServer(wechat.ServerConfig{AppID: a.AppID, Token: a.Token, AESKey: a.AESKey}, h, nil)
	if err != nil {
		b.Fatal(err)
	}
	type push struct {
		url  string
		body []byte
	}
	now := time.Now()
	pushes := make([]push, b.N)
	for i := range pushes {
		msg := wechat.Inbound{ToUserName: a.Name, FromUserName: "oCitizen" + strconv.Itoa(i%1000), CreateTime: now.Unix(),
			MsgType: "text", MsgID: int64(i + 1), Content: "朝阳区建国路88号小区门口井盖丢了，晚上很危险，请尽快处理"}
		enc := a.Encrypt(b, wechattest.MessageXML(msg))
		pushes[i] = push{a.PushURL("/wechat", now, wechattest.Nonce(), enc), wechattest.Envelope(a.Name, enc)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, p := range pushes {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodPost, p.url, bytes.NewReader(p.body)))
		if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte("<Encrypt>")) {
			b.Fatalf("push answered %d %q", w.Code, w.Body.String())
		}
	}
}
