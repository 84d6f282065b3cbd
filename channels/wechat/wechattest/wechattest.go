// Package wechattest plays WeChat's servers against a wechat.Server, as
// httptest plays a client: it signs, encrypts and posts pushes the way
// WeChat does, and checks and decrypts the replies the way WeChat would.
package wechattest

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"github.com/yihao-city/yihao/channels/wechat"
)

// Account is an official account as WeChat's servers know it.
type Account struct {
	AppID, Token, AESKey string
	Name                 string // the account's original id, gh_…
}

// NewAccount returns an account with random credentials.
func NewAccount() Account {
	return Account{
		AppID:  "wx" + randomHex(8),
		Token:  "tok" + randomHex(8),
		AESKey: NewAESKey(),
		Name:   "gh_" + randomHex(6),
	}
}

// NewAESKey returns a random EncodingAESKey: 43 characters of base64.
func NewAESKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return strings.TrimSuffix(base64.StdEncoding.EncodeToString(k), "=")
}

// ReplyMsg is a passive reply as WeChat reads it.
type ReplyMsg struct {
	ToUserName, FromUserName, MsgType, Content string
	CreateTime                                 int64
}

// Push sends msg as WeChat would: ToUserName defaults to a.Name and
// CreateTime to now; the URL is signed with the current time and, when
// encrypted, the message is encrypted into a safe-mode envelope. It returns
// the HTTP status and the reply, nil for "success", an empty answer or any
// status but 200. A reply whose msg_signature is wrong, that does not
// decrypt to a.AppID, or that is not addressed back to msg's sender fails t.
func (a Account) Push(t testing.TB, url string, msg wechat.Inbound, encrypted bool) (status int, reply *ReplyMsg) {
	t.Helper()
	now := time.Now()
	if msg.ToUserName == "" {
		msg.ToUserName = a.Name
	}
	if msg.CreateTime == 0 {
		msg.CreateTime = now.Unix()
	}
	plain := MessageXML(msg)
	nonce := Nonce()
	var pushURL string
	var body []byte
	if encrypted {
		enc := a.Encrypt(t, plain)
		pushURL, body = a.PushURL(url, now, nonce, enc), Envelope(msg.ToUserName, enc)
	} else {
		pushURL, body = a.PushURL(url, now, nonce, ""), plain
	}
	status, answer := a.Post(t, pushURL, body)
	if status != http.StatusOK {
		return status, nil
	}
	reply = a.DecodeReply(t, answer, encrypted)
	if reply != nil && (reply.ToUserName != msg.FromUserName || reply.FromUserName != msg.ToUserName) {
		t.Errorf("wechattest: reply from %q to %q, want from %q to %q",
			reply.FromUserName, reply.ToUserName, msg.ToUserName, msg.FromUserName)
	}
	return status, reply
}

// Verify performs WeChat's check of the server URL (GET with echostr) and
// fails t unless the server echoes it.
func (a Account) Verify(t testing.TB, url string) {
	t.Helper()
	echo := randomHex(10)
	status, body := Get(t, a.CheckURL(url, time.Now(), Nonce(), echo))
	if status != http.StatusOK || string(body) != echo {
		t.Errorf("wechattest: URL check answered %d %q, want 200 %q", status, body, echo)
	}
}

// CheckURL is base with the query of WeChat's URL check at ts.
func (a Account) CheckURL(base string, ts time.Time, nonce, echostr string) string {
	q := a.signedQuery(ts, nonce)
	q.Set("echostr", echostr)
	return join(base, q)
}

// PushURL is base with the query of a push at ts: signature, timestamp,
// nonce and openid; with encrypt non-empty also encrypt_type=aes and
// msg_signature over encrypt.
func (a Account) PushURL(base string, ts time.Time, nonce, encrypt string) string {
	q := a.signedQuery(ts, nonce)
	q.Set("openid", "o"+randomHex(8))
	if encrypt != "" {
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", util.Signature(a.Token, q.Get("timestamp"), nonce, encrypt))
	}
	return join(base, q)
}

func (a Account) signedQuery(ts time.Time, nonce string) url.Values {
	timestamp := strconv.FormatInt(ts.Unix(), 10)
	return url.Values{
		"signature": {util.Signature(a.Token, timestamp, nonce)},
		"timestamp": {timestamp},
		"nonce":     {nonce},
	}
}

func join(base string, q url.Values) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + q.Encode()
}

// Encrypt is plain encrypted with a.AESKey for a.AppID, in base64: the
// Encrypt element of a safe-mode push.
func (a Account) Encrypt(t testing.TB, plain []byte) string {
	t.Helper()
	random := make([]byte, 16)
	_, _ = rand.Read(random)
	enc, err := util.EncryptMsg(random, plain, a.AppID, a.AESKey)
	if err != nil {
		t.Fatalf("wechattest: encrypt: %v", err)
	}
	return string(enc)
}

// Envelope is the body of a safe-mode push.
func Envelope(toUserName, encrypt string) []byte {
	var b bytes.Buffer
	b.WriteString("<xml>")
	writeCDATA(&b, "ToUserName", toUserName)
	writeCDATA(&b, "Encrypt", encrypt)
	b.WriteString("</xml>")
	return b.Bytes()
}

// Post posts body to url as WeChat does and returns the answer. A
// transport error fails t and returns status 0.
func (a Account) Post(t testing.TB, url string, body []byte) (status int, answer []byte) {
	t.Helper()
	return do(t, http.MethodPost, url, bytes.NewReader(body))
}

// Get sends a GET to url and returns the answer. A transport error fails
// t and returns status 0.
func Get(t testing.TB, url string) (status int, answer []byte) {
	t.Helper()
	return do(t, http.MethodGet, url, nil)
}

func do(t testing.TB, method, url string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Errorf("wechattest: %v", err)
		return 0, nil
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/xml")
	}
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("wechattest: %s: %v", method, err)
		return 0, nil
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("wechattest: reading the answer: %v", err)
	}
	return resp.StatusCode, answer
}

// DecodeReply reads a 200 answer as WeChat would: nil for "success" or an
// empty body; in safe mode the answer must be signed with a.Token and
// decrypt to a.AppID, else t fails and the reply is nil.
func (a Account) DecodeReply(t testing.TB, answer []byte, encrypted bool) *ReplyMsg {
	t.Helper()
	s := strings.TrimSpace(string(answer))
	if s == "" || s == "success" {
		return nil
	}
	plain := []byte(s)
	if encrypted {
		var env struct {
			Encrypt, MsgSignature, TimeStamp, Nonce string
		}
		if err := xml.Unmarshal(plain, &env); err != nil {
			t.Errorf("wechattest: encrypted reply: %v", err)
			return nil
		}
		want := util.Signature(a.Token, env.TimeStamp, env.Nonce, env.Encrypt)
		if subtle.ConstantTimeCompare([]byte(want), []byte(env.MsgSignature)) != 1 {
			t.Errorf("wechattest: reply MsgSignature %q, want %q", env.MsgSignature, want)
			return nil
		}
		var err error
		if _, plain, err = util.DecryptMsg(a.AppID, env.Encrypt, a.AESKey); err != nil {
			t.Errorf("wechattest: reply does not decrypt: %v", err)
			return nil
		}
	}
	var r ReplyMsg
	if err := xml.Unmarshal(plain, &r); err != nil {
		t.Errorf("wechattest: reply: %v", err)
		return nil
	}
	return &r
}

// MessageXML is msg as WeChat writes a push: <xml> with strings in CDATA,
// numbers bare, and the fields that are zero left out (ToUserName,
// FromUserName, CreateTime and MsgType are always written).
func MessageXML(msg wechat.Inbound) []byte {
	var b bytes.Buffer
	b.WriteString("<xml>")
	writeCDATA(&b, "ToUserName", msg.ToUserName)
	writeCDATA(&b, "FromUserName", msg.FromUserName)
	writeNumber(&b, "CreateTime", strconv.FormatInt(msg.CreateTime, 10))
	writeCDATA(&b, "MsgType", msg.MsgType)
	for _, f := range []struct{ name, value string }{
		{"Content", msg.Content},
		{"MediaId", msg.MediaID},
		{"PicUrl", msg.PicURL},
		{"Format", msg.Format},
		{"Recognition", msg.Recognition},
		{"ThumbMediaId", msg.ThumbMediaID},
		{"Label", msg.Label},
		{"Title", msg.Title},
		{"Description", msg.Description},
		{"Url", msg.URL},
		{"Event", msg.Event},
		{"EventKey", msg.EventKey},
		{"Ticket", msg.Ticket},
	} {
		if f.value != "" {
			writeCDATA(&b, f.name, f.value)
		}
	}
	for _, f := range []struct {
		name  string
		value float64
	}{
		{"Location_X", msg.LocationX},
		{"Location_Y", msg.LocationY},
		{"Latitude", msg.Latitude},
		{"Longitude", msg.Longitude},
		{"Precision", msg.Precision},
	} {
		if f.value != 0 {
			writeNumber(&b, f.name, strconv.FormatFloat(f.value, 'f', -1, 64))
		}
	}
	if msg.Scale != 0 {
		writeNumber(&b, "Scale", strconv.Itoa(msg.Scale))
	}
	if msg.MsgID != 0 {
		writeNumber(&b, "MsgId", strconv.FormatInt(msg.MsgID, 10))
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

func writeCDATA(b *bytes.Buffer, name, value string) {
	b.WriteString("<" + name + "><![CDATA[")
	b.WriteString(strings.ReplaceAll(value, "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]></" + name + ">")
}

func writeNumber(b *bytes.Buffer, name, value string) {
	b.WriteString("<" + name + ">" + value + "</" + name + ">")
}

// Nonce returns a random nonce such as WeChat sends.
func Nonce() string {
	return randomHex(5)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
