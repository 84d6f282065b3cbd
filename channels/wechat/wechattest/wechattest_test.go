package wechattest_test

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/silenceper/wechat/v2/util"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/channels/wechat/wechattest"
)

func TestNewAESKey(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		k := wechattest.NewAESKey()
		if len(k) != 43 {
			t.Fatalf("key %q has %d characters, want 43", k, len(k))
		}
		raw, err := base64.StdEncoding.DecodeString(k + "=")
		if err != nil || len(raw) != 32 {
			t.Fatalf("key %q: %d bytes, %v", k, len(raw), err)
		}
		if seen[k] {
			t.Fatalf("key %q repeated", k)
		}
		seen[k] = true
	}
}

func TestMessageXMLParsesBack(t *testing.T) {
	for _, msg := range []wechat.Inbound{
		{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 1700000000, MsgType: "text", MsgID: 1, Content: "a ]]> b <c> & d"},
		{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 1700000000, MsgType: "location", MsgID: 2,
			LocationX: 30.657423, LocationY: -104.5, Scale: 15, Label: "某地"},
		{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 1700000000, MsgType: "event", Event: "LOCATION",
			Latitude: 23.137466, Longitude: 113.352425, Precision: 119.38504},
	} {
		var got wechat.Inbound
		if err := xml.Unmarshal(wechattest.MessageXML(msg), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(msg, got, cmpopts.IgnoreFields(wechat.Inbound{}, "XMLName")); diff != "" {
			t.Errorf("(-sent +parsed):\n%s", diff)
		}
	}
}

func TestPushURLIsSigned(t *testing.T) {
	a := wechattest.NewAccount()
	ts := time.Unix(1700000000, 0)
	u, err := url.Parse(a.PushURL("http://h/wechat?x=1", ts, "n1", "ENC"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("x") != "1" || q.Get("timestamp") != "1700000000" || q.Get("nonce") != "n1" || q.Get("encrypt_type") != "aes" {
		t.Errorf("query %v", q)
	}
	if q.Get("signature") != util.Signature(a.Token, "1700000000", "n1") {
		t.Error("signature is not sha1(sort(token, timestamp, nonce))")
	}
	if q.Get("msg_signature") != util.Signature(a.Token, "1700000000", "n1", "ENC") {
		t.Error("msg_signature is not sha1(sort(token, timestamp, nonce, encrypt))")
	}
}

func TestEncryptCarriesAppID(t *testing.T) {
	a := wechattest.NewAccount()
	enc := a.Encrypt(t, []byte("<xml/>"))
	_, plain, err := util.DecryptMsg(a.AppID, enc, a.AESKey)
	if err != nil || string(plain) != "<xml/>" {
		t.Fatalf("decrypt: %q %v", plain, err)
	}
	if _, _, err := util.DecryptMsg("wx_other", enc, a.AESKey); err == nil {
		t.Error("decrypts for another AppID")
	}
}

// failRecorder is a testing.TB that records failures instead of failing.
type failRecorder struct {
	testing.TB
	failed []string
}

func (f *failRecorder) Helper() {}
func (f *failRecorder) Errorf(format string, args ...any) {
	f.failed = append(f.failed, fmt.Sprintf(format, args...))
}
func (f *failRecorder) Fatalf(format string, args ...any) { f.Errorf(format, args...) }

func TestDecodeReply(t *testing.T) {
	a := wechattest.NewAccount()
	reply := []byte(`<xml><ToUserName><![CDATA[o1]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName>` +
		`<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[好]]></Content></xml>`)
	enc := a.Encrypt(t, reply)
	sealed := func(sig string) []byte {
		return fmt.Appendf(nil, "<xml><Encrypt><![CDATA[%s]]></Encrypt><MsgSignature><![CDATA[%s]]></MsgSignature>"+
			"<TimeStamp>1700000000</TimeStamp><Nonce><![CDATA[n1]]></Nonce></xml>", enc, sig)
	}
	want := &wechattest.ReplyMsg{ToUserName: "o1", FromUserName: "gh_1", MsgType: "text", Content: "好", CreateTime: 1700000000}
	for _, tc := range []struct {
		name      string
		answer    []byte
		encrypted bool
		want      *wechattest.ReplyMsg
		fails     bool
	}{
		{"success", []byte("success"), true, nil, false},
		{"empty", nil, false, nil, false},
		{"plain", reply, false, want, false},
		{"sealed", sealed(util.Signature(a.Token, "1700000000", "n1", enc)), true, want, false},
		{"bad MsgSignature", sealed(util.Signature("other", "1700000000", "n1", enc)), true, nil, true},
		{"not xml", []byte("<xml"), false, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &failRecorder{TB: t}
			got := a.DecodeReply(f, tc.answer, tc.encrypted)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if (len(f.failed) > 0) != tc.fails {
				t.Errorf("failures %q, want failing=%v", f.failed, tc.fails)
			}
		})
	}
}

func TestPushChecksReplyAddress(t *testing.T) {
	a := wechattest.NewAccount()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`<xml><ToUserName>someone-else</ToUserName><FromUserName>gh</FromUserName><MsgType>text</MsgType><Content>x</Content></xml>`))
	}))
	defer srv.Close()
	f := &failRecorder{TB: t}
	status, reply := a.Push(f, srv.URL, wechat.Inbound{FromUserName: "o1", MsgType: "text"}, false)
	if status != http.StatusOK || reply == nil || len(f.failed) != 1 || !strings.Contains(f.failed[0], "reply from") {
		t.Errorf("status %d reply %+v failures %q", status, reply, f.failed)
	}
}
