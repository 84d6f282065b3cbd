package wechat

import (
	"context"
	"encoding/xml"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// What encoding/xml writes for a reply: the reference the hand-written
// encoders are held to.
type cdataElem struct {
	Text string `xml:",cdata"`
}

type textReplyXML struct {
	XMLName      xml.Name  `xml:"xml"`
	ToUserName   cdataElem `xml:"ToUserName"`
	FromUserName cdataElem `xml:"FromUserName"`
	CreateTime   int64     `xml:"CreateTime"`
	MsgType      cdataElem `xml:"MsgType"`
	Content      cdataElem `xml:"Content"`
}

type encryptedReplyXML struct {
	XMLName      xml.Name  `xml:"xml"`
	Encrypt      cdataElem `xml:"Encrypt"`
	MsgSignature cdataElem `xml:"MsgSignature"`
	TimeStamp    int64     `xml:"TimeStamp"`
	Nonce        cdataElem `xml:"Nonce"`
}

// A reply's bytes are encoding/xml's, whatever its text holds: "]]>", CDATA
// markers, control characters, invalid UTF-8, nothing at all.
func TestRepliesAsEncodingXML(t *testing.T) {
	texts := []string{"", "已受理，工单号：26120600000011", "]]>", "a]]>b]]>]]>c", "<![CDATA[x]]>", "]]", "]>", "\r\n\x00\x1f\ufffe", "\xff\xfe", "&<>\"'"}
	pieces := []string{"]", "]]", ">", "<", "&", "路灯", "\r", "\x01", "a", "<![CDATA[", "\xc3"}
	rng := rand.New(rand.NewPCG(6, 12))
	for range 2000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		texts = append(texts, b.String())
	}
	now := time.Unix(1796600000, 0)
	for _, text := range texts {
		m := &Inbound{FromUserName: "o" + text, ToUserName: "gh_" + text}
		got, err := (&Reply{Text: text}).encode(m, now)
		if err != nil {
			t.Fatal(err)
		}
		want, err := xml.Marshal(textReplyXML{ToUserName: cdataElem{validXML(m.FromUserName)}, FromUserName: cdataElem{validXML(m.ToUserName)},
			CreateTime: now.Unix(), MsgType: cdataElem{MsgText}, Content: cdataElem{validXML(text)}})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("reply to %q:\n got %s\nwant %s", text, got, want)
		}
		var back textReplyXML
		if err := xml.Unmarshal(got, &back); err != nil || back.Content.Text != validXML(text) {
			t.Fatalf("reply to %q reads back as %q, %v", text, back.Content.Text, err)
		}
		enc := []byte(appendCDATA(nil, "Encrypt", text))
		want, err = xml.Marshal(encryptedReplyXML{Encrypt: cdataElem{text}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(want), string(enc)) {
			t.Fatalf("Encrypt holding %q: %s, not in encoding/xml's %s", text, enc, want)
		}
	}
}

// A safe-mode answer's bytes are encoding/xml's for the same fields.
func TestSealedReplyAsEncodingXML(t *testing.T) {
	s, err := NewServer(ServerConfig{AppID: "wx_seal", Token: "tok",
		AESKey: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}, func(context.Context, *Inbound) (*Reply, error) { return nil, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.seal([]byte("<xml><Content><![CDATA[已受理]]></Content></xml>"), time.Unix(1796600000, 0))
	if err != nil {
		t.Fatal(err)
	}
	var r encryptedReplyXML
	if err := xml.Unmarshal(got, &r); err != nil || r.Encrypt.Text == "" || r.MsgSignature.Text == "" || r.Nonce.Text == "" || r.TimeStamp != 1796600000 {
		t.Fatalf("sealed reply %s reads back as %+v, %v", got, r, err)
	}
	want, err := xml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("sealed reply:\n got %s\nwant %s", got, want)
	}
}
