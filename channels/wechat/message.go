package wechat

import (
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message types (MsgType) of an inbound push.
const (
	MsgText       = "text"
	MsgImage      = "image"
	MsgVoice      = "voice"
	MsgVideo      = "video"
	MsgShortVideo = "shortvideo"
	MsgLocation   = "location"
	MsgLink       = "link"
	MsgEvent      = "event"
)

// Event types (Event) of an inbound push whose MsgType is "event".
const (
	EventSubscribe   = "subscribe"
	EventUnsubscribe = "unsubscribe"
	EventScan        = "SCAN"
	EventLocation    = "LOCATION"
	EventClick       = "CLICK"
	EventView        = "VIEW"
)

// Inbound is one message or event that WeChat pushes to the official
// account's server (普通消息 / 事件推送), after authentication and, in safe
// mode, decryption. Which fields are set depends on MsgType (and Event).
//
// FromUserName is the citizen's OpenID: personal data, never logged above
// debug level. Content and Recognition are the citizen's words: never
// logged at all.
type Inbound struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string   `xml:"ToUserName"`   // the official account's original id (gh_…)
	FromUserName string   `xml:"FromUserName"` // the citizen's OpenID
	CreateTime   int64    `xml:"CreateTime"`   // Unix seconds
	MsgType      string   `xml:"MsgType"`
	MsgID        int64    `xml:"MsgId"` // absent on events

	// text
	Content string `xml:"Content"`

	// image, voice, video, shortvideo
	MediaID      string `xml:"MediaId"`
	PicURL       string `xml:"PicUrl"`       // image
	Format       string `xml:"Format"`       // voice: amr, speex
	Recognition  string `xml:"Recognition"`  // voice: WeChat's speech recognition, when enabled
	ThumbMediaID string `xml:"ThumbMediaId"` // video, shortvideo

	// location (coordinates as WeChat sends them, GCJ-02)
	LocationX float64 `xml:"Location_X"` // latitude
	LocationY float64 `xml:"Location_Y"` // longitude
	Scale     int     `xml:"Scale"`
	Label     string  `xml:"Label"`

	// link
	Title       string `xml:"Title"`
	Description string `xml:"Description"`
	URL         string `xml:"Url"`

	// event
	Event     string  `xml:"Event"`
	EventKey  string  `xml:"EventKey"` // CLICK: the menu key; VIEW: the URL; SCAN/subscribe: the QR scene
	Ticket    string  `xml:"Ticket"`   // SCAN/subscribe through a QR code
	Latitude  float64 `xml:"Latitude"` // LOCATION event
	Longitude float64 `xml:"Longitude"`
	Precision float64 `xml:"Precision"`
}

// DedupKey identifies this push across WeChat's retries (it retries a push
// up to three times when it gets no answer in 5 seconds): "msg:<MsgId>"
// for anything with a MsgId, else
// "evt:<FromUserName>:<CreateTime>:<Event>[:<EventKey>]", as WeChat
// recommends for events. The key contains the OpenID: it is as private as
// the OpenID itself.
func (m *Inbound) DedupKey() string {
	if m.MsgID != 0 {
		return "msg:" + strconv.FormatInt(m.MsgID, 10)
	}
	k := "evt:" + m.FromUserName + ":" + strconv.FormatInt(m.CreateTime, 10) + ":" + m.Event
	if m.EventKey != "" {
		k += ":" + m.EventKey
	}
	return k
}

// errMalformed marks a push body that is not a well-formed message.
var errMalformed = errors.New("wechat: malformed message")

// parseInbound parses the plaintext XML of one push. It checks the shape
// only (the fields every push has, finite coordinates); what the message
// means is the handler's to decide, unknown MsgTypes included.
func parseInbound(body []byte) (*Inbound, error) {
	var m Inbound
	if err := xml.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	switch {
	case m.ToUserName == "":
		return nil, fmt.Errorf("%w: no ToUserName", errMalformed)
	case m.FromUserName == "":
		return nil, fmt.Errorf("%w: no FromUserName", errMalformed)
	case m.MsgType == "":
		return nil, fmt.Errorf("%w: no MsgType", errMalformed)
	}
	for _, f := range [...]float64{m.LocationX, m.LocationY, m.Latitude, m.Longitude, m.Precision} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: coordinate not finite", errMalformed)
		}
	}
	return &m, nil
}

// envelope is the body of a safe-mode push: the message is in Encrypt.
type envelope struct {
	XMLName    xml.Name `xml:"xml"`
	ToUserName string   `xml:"ToUserName"`
	Encrypt    string   `xml:"Encrypt"`
}

func parseEnvelope(body []byte) (*envelope, error) {
	var e envelope
	if err := xml.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	e.Encrypt = strings.TrimSpace(e.Encrypt)
	if e.Encrypt == "" {
		return nil, fmt.Errorf("%w: no Encrypt", errMalformed)
	}
	return &e, nil
}

// Reply is a passive reply (被动回复) to the push being handled: a text
// message shown to the citizen at once. A nil *Reply answers "success",
// which tells WeChat the push was received and nothing is to be shown.
type Reply struct {
	Text string

	number string // the ticket a stored report went to; "" for other replies
}

// encode writes the reply to m: to the citizen, from the account. Every
// element but the time is CDATA, as WeChat writes its own; the bytes are
// what encoding/xml writes for the same (TestRepliesAsEncodingXML), without
// its reflection: writing the two replies of a safe-mode push took 7% of
// the server's CPU in a profile of WeChat pushes.
func (r *Reply) encode(m *Inbound, now time.Time) ([]byte, error) {
	b := make([]byte, 0, 192+len(m.FromUserName)+len(m.ToUserName)+len(r.Text))
	b = append(b, "<xml>"...)
	b = appendCDATA(b, "ToUserName", validXML(m.FromUserName))
	b = appendCDATA(b, "FromUserName", validXML(m.ToUserName))
	b = appendInt(b, "CreateTime", now.Unix())
	b = appendCDATA(b, "MsgType", MsgText)
	b = appendCDATA(b, "Content", validXML(r.Text))
	return append(b, "</xml>"...), nil
}

// appendCDATA appends the element name holding s as CDATA. A "]]>" in s
// would end the section, so it is split across two; an empty s is an empty
// element.
func appendCDATA(b []byte, name, s string) []byte {
	b = append(append(append(b, '<'), name...), '>')
	if s != "" {
		b = append(b, "<![CDATA["...)
		for {
			before, after, ok := strings.Cut(s, "]]>")
			if !ok {
				break
			}
			b = append(append(b, before...), "]]]]><![CDATA[>"...)
			s = after
		}
		b = append(append(b, s...), "]]>"...)
	}
	return append(append(append(b, "</"...), name...), '>')
}

// appendInt appends the element name holding n.
func appendInt(b []byte, name string, n int64) []byte {
	b = append(append(append(b, '<'), name...), '>')
	b = strconv.AppendInt(b, n, 10)
	return append(append(append(b, "</"...), name...), '>')
}

// validXML makes s what an XML reader will read back from CDATA: what XML
// 1.0 cannot carry (invalid UTF-8, most control characters), which CDATA
// does not escape, becomes U+FFFD, and line ends become "\n" as a reader
// normalizes them.
func validXML(s string) string {
	ok := true
	for _, r := range s {
		if r == '\r' || !isXMLChar(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\r':
			r = '\n'
		case !isXMLChar(r):
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isXMLChar(r rune) bool {
	switch {
	case r == utf8.RuneError:
		return false // invalid UTF-8 (or U+FFFD itself, which is harmless to replace)
	case r == '\t', r == '\n', r == '\r':
		return true
	case r < 0x20:
		return false
	case r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
		return false
	}
	return r <= 0x10FFFF
}
