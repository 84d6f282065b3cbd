package wechat

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"
)

var fuzzSeeds = []string{
	`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[路灯坏了]]></Content><MsgId>6100000000000000001</MsgId></xml>`,
	`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[m]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[垃圾]]></Recognition><MsgId>2</MsgId></xml>`,
	`<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>location</MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label>位置</Label><MsgId>3</MsgId></xml>`,
	`<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>CLICK</Event><EventKey>K]]&gt;</EventKey></xml>`,
	`<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>LOCATION</Event><Latitude>1e308</Latitude><Longitude>-0</Longitude><Precision>NaN</Precision></xml>`,
	`<xml><ToUserName/><Encrypt><![CDATA[abc]]></Encrypt></xml>`,
	`<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml>&a;</xml>`,
	`<xml><CreateTime>99999999999999999999</CreateTime></xml>`,
	``,
	`<`,
}

// FuzzParseInbound: parsing never panics, what parses has the fields every
// push has, and a reply to it encodes to XML that reads back.
func FuzzParseInbound(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseInbound(body)
		if err != nil {
			return
		}
		if m.ToUserName == "" || m.FromUserName == "" || m.MsgType == "" {
			t.Fatalf("parsed without required fields: %+v", m)
		}
		_ = m.DedupKey()
		out, err := (&Reply{Text: m.Content}).encode(m, time.Unix(1700000000, 0))
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		var back struct {
			ToUserName, FromUserName, Content string
		}
		if err := xml.Unmarshal(out, &back); err != nil {
			t.Fatalf("reply does not parse: %v\n%s", err, out)
		}
		if back.ToUserName != validXML(m.FromUserName) || back.Content != validXML(m.Content) {
			t.Fatalf("reply changed: %+v from %+v", back, m)
		}
	})
}

// fuzzServer is a safe-mode server whose handler replies to everything.
func fuzzServer(f *testing.F) (*Server, ServerConfig) {
	cfg := ServerConfig{
		AppID:  "wxfuzz0123456789",
		Token:  "fuzztoken",
		AESKey: strings.TrimSuffix(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")), "="),
	}
	s, err := NewServer(cfg, func(_ context.Context, m *Inbound) (*Reply, error) {
		return &Reply{Text: m.Content}, nil
	}, nil)
	if err != nil {
		f.Fatal(err)
	}
	return s, cfg
}

// pushSigned posts body to s with signature and timestamp right and
// msg_signature over encrypt, so that the request reaches the decryption.
func pushSigned(t *testing.T, s *Server, cfg ServerConfig, encrypt string, body []byte) int {
	ts := time.Now().Unix()
	q := url.Values{
		"timestamp":     {itoa(ts)},
		"nonce":         {"n"},
		"encrypt_type":  {"aes"},
		"signature":     {util.Signature(cfg.Token, itoa(ts), "n")},
		"msg_signature": {util.Signature(cfg.Token, itoa(ts), "n", encrypt)},
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/wechat?"+q.Encode(), strings.NewReader(string(body))))
	switch w.Code {
	case http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
	default:
		t.Fatalf("status %d", w.Code)
	}
	return w.Code
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// FuzzEnvelope: a safe-mode push whose envelope is anything, signed over
// whatever Encrypt it holds, never panics and is answered 200, 400 or 403.
func FuzzEnvelope(f *testing.F) {
	s, cfg := fuzzServer(f)
	for _, seed := range fuzzSeeds {
		enc, err := util.EncryptMsg([]byte("0123456789abcdef"), []byte(seed), cfg.AppID, cfg.AESKey)
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[` + string(enc) + `]]></Encrypt></xml>`))
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		encrypt := ""
		if env, err := parseEnvelope(body); err == nil {
			encrypt = env.Encrypt
		}
		pushSigned(t, s, cfg, encrypt, body)
	})
}

// FuzzCiphertext: any ciphertext, signed, in a well-formed envelope, never
// panics the decryption (padding, length prefix, AppID) and is answered
// 200, 400 or 403; a 200 came from a plaintext that parsed.
func FuzzCiphertext(f *testing.F) {
	s, cfg := fuzzServer(f)
	key, _ := base64.StdEncoding.DecodeString(cfg.AESKey + "=")
	for _, seed := range fuzzSeeds {
		f.Add(util.AESEncryptMsg([]byte("0123456789abcdef"), []byte(seed), cfg.AppID, key))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, ciphertext []byte) {
		encrypt := base64.StdEncoding.EncodeToString(ciphertext)
		body := []byte(`<xml><ToUserName>gh_1</ToUserName><Encrypt>` + encrypt + `</Encrypt></xml>`)
		if pushSigned(t, s, cfg, encrypt, body) == http.StatusOK {
			_, plain, err := util.DecryptMsg(cfg.AppID, encrypt, cfg.AESKey)
			if err != nil {
				t.Fatalf("answered 200 to a ciphertext that does not decrypt: %v", err)
			}
			if _, err := parseInbound(plain); err != nil {
				t.Fatalf("answered 200 to a message that does not parse: %v", err)
			}
		}
	})
}
