package ticketing

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Channel is the door a report came through.
type Channel string

const (
	ChannelWeb     Channel = "web"
	ChannelPhone   Channel = "phone"
	ChannelSMS     Channel = "sms"
	ChannelWeChat  Channel = "wechat"
	ChannelOpen311 Channel = "open311"
	ChannelCTI     Channel = "cti"
	// ChannelField is a grid supervisor's report from patrol (主动发现):
	// found by the city's own people, not reported by a citizen.
	ChannelField Channel = "field"
	// ChannelHotspot is a 督办 case a dispatcher opened on a hotspot: the
	// cause of the recurring reports, which follow it (Service.OpenHotspotCase).
	ChannelHotspot Channel = "hotspot"
)

func (c Channel) valid() bool {
	switch c {
	case ChannelWeb, ChannelPhone, ChannelSMS, ChannelWeChat, ChannelOpen311, ChannelCTI, ChannelField, ChannelHotspot:
		return true
	}
	return false
}

// Limits every channel shares, so a report is judged the same whatever door it used.
const (
	MaxTextRunes     = 4000
	MaxAddressRunes  = 200
	MaxNameRunes     = 50
	MaxPhoneLen      = 32
	MaxExternalIDLen = 128
	MaxAttachments   = 5
	MaxCategoryLen   = 32
	MaxLineLen       = 32
	MaxActorLen      = 80 // Report.By: a role, a colon and a user name
)

// Point is a WGS-84 coordinate.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Validate checks the point is on the globe.
func (l *Point) Validate() error {
	if math.IsNaN(l.Lat) || l.Lat < -90 || l.Lat > 90 {
		return Invalid("lat", "latitude must be between -90 and 90")
	}
	if math.IsNaN(l.Lon) || l.Lon < -180 || l.Lon > 180 {
		return Invalid("lon", "longitude must be between -180 and 180")
	}
	return nil
}

// Contact is how to reach the citizen. All fields are optional: anonymous
// reports are allowed. Phone and OpenID are private: never logged at info
// level, masked for liaisons.
type Contact struct {
	Name   string `json:"name,omitempty"`
	Phone  string `json:"phone,omitempty"`
	Email  string `json:"email,omitempty"`
	OpenID string `json:"openid,omitempty"`
}

// Attachment is a stored file (a photo) that belongs to a ticket: the
// citizen's, or a department's result photo (Kind AttachmentResult).
type Attachment struct {
	ID          string `json:"id"`           // storage key, e.g. "2026/11/25/ab12....jpg"
	ContentType string `json:"content_type"` // image/jpeg, image/png
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`         // digest of the bytes as received, for idempotency
	Kind        string `json:"kind,omitempty"` // "" for the citizen's; AttachmentResult
}

// AttachmentResult marks a photo the department sent with its result (办结反馈).
const AttachmentResult = "result"

// MaxResultPhotos is how many photos one result report may carry.
const MaxResultPhotos = 5

// Report is what every channel adapter turns a citizen's input into: one
// shape for phone, WeChat, web and Open311, submitted through Service.Submit.
type Report struct {
	Channel     Channel
	ExternalID  string // idempotency key within the channel (Idempotency-Key, call id, MsgId)
	Line        string // hotline number the citizen used (12345, 12319, ...), if any
	Reporter    Contact
	Text        string
	Category    string // the citizen's or agent's choice; empty lets routing decide
	Location    *Point
	Address     string
	Attachments []Attachment
	ReceivedAt  time.Time
	// By is who took the report when it is not the citizen's own: the
	// supervisor who found the problem ("supervisor:NAME"). It is the
	// actor of the ticket's first event; empty means ActorCitizen.
	By string
	// Article is the knowledge-base article the agent answered with, or the
	// citizen was shown before asking for a ticket (Ticket.Article).
	Article int64
}

// supervisorActor is the prefix of Report.By for a supervisor's report.
const supervisorActor = "supervisor:"

// SupervisorActor is Report.By for a report the supervisor name made.
func SupervisorActor(name string) string { return supervisorActor + name }

// Normalize trims fields in place so validation and fingerprints see the
// same values whatever whitespace a client sent.
func (r *Report) Normalize() {
	r.ExternalID = strings.TrimSpace(r.ExternalID)
	r.Line = strings.TrimSpace(r.Line)
	r.Text = strings.TrimSpace(r.Text)
	r.Category = strings.TrimSpace(r.Category)
	r.Address = strings.TrimSpace(r.Address)
	r.Reporter.Name = strings.TrimSpace(r.Reporter.Name)
	r.Reporter.Phone = strings.TrimSpace(r.Reporter.Phone)
	r.Reporter.Email = strings.TrimSpace(r.Reporter.Email)
	r.Reporter.OpenID = strings.TrimSpace(r.Reporter.OpenID)
}

// Validate checks the report against the shared limits. The error names the
// first field at fault.
func (r *Report) Validate() error {
	if !r.Channel.valid() {
		return Invalid("channel", "unknown channel %q", r.Channel)
	}
	if len(r.ExternalID) > MaxExternalIDLen {
		return Errorf(KindInvalid, "external_id", "must be at most %d bytes", MaxExternalIDLen)
	}
	if len(r.By) > MaxActorLen || !utf8.ValidString(r.By) || !printable(r.By) {
		return Invalid("by", "must be at most %d printable characters", MaxActorLen)
	}
	if r.Text == "" {
		return Invalid("text", "description is required")
	}
	if !utf8.ValidString(r.Text) {
		return Invalid("text", "must be valid UTF-8")
	}
	for field, v := range map[string]string{"text": r.Text, "address": r.Address, "contact.name": r.Reporter.Name, "line": r.Line} {
		if hasControl(v) {
			return Invalid(field, "must not contain control characters")
		}
	}
	if n := utf8.RuneCountInString(r.Text); n > MaxTextRunes {
		return &Error{Kind: KindTooLarge, Field: "text", Message: "description is " + itoa(n) + " characters; the limit is " + itoa(MaxTextRunes)}
	}
	if utf8.RuneCountInString(r.Address) > MaxAddressRunes || !utf8.ValidString(r.Address) {
		return Invalid("address", "must be valid text of at most %d characters", MaxAddressRunes)
	}
	if utf8.RuneCountInString(r.Reporter.Name) > MaxNameRunes || !utf8.ValidString(r.Reporter.Name) {
		return Invalid("contact.name", "must be valid text of at most %d characters", MaxNameRunes)
	}
	if p := r.Reporter.Phone; p != "" && !validPhone(p) {
		return Invalid("contact.phone", "must be a phone number (digits, optional leading +, 5 to 20 digits)")
	}
	if e := r.Reporter.Email; e != "" && (len(e) > 254 || strings.Count(e, "@") != 1 || strings.ContainsAny(e, " <>\"\n\r\t") || hasControl(e)) {
		return Invalid("contact.email", "must be an email address")
	}
	if len(r.Category) > MaxCategoryLen {
		return Invalid("category", "must be at most %d bytes", MaxCategoryLen)
	}
	if len(r.Line) > MaxLineLen {
		return Invalid("line", "must be at most %d bytes", MaxLineLen)
	}
	if l := r.Location; l != nil {
		if err := l.Validate(); err != nil {
			return err
		}
	}
	if len(r.Attachments) > MaxAttachments {
		return &Error{Kind: KindTooLarge, Field: "photos", Message: "at most " + itoa(MaxAttachments) + " photos"}
	}
	if r.ReceivedAt.IsZero() {
		return Invalid("received_at", "is required")
	}
	return nil
}

// hasControl finds characters no citizen types (NUL, escapes); line breaks
// and tabs are fine.
func hasControl(s string) bool {
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\r' && r != '\t') || r == 0x7f {
			return true
		}
	}
	return false
}

func validPhone(p string) bool {
	digits := 0
	for i, c := range p {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' && i == 0:
		case c == '-' || c == ' ' || c == '(' || c == ')' || c == '.':
		default:
			return false
		}
	}
	return digits >= 5 && digits <= 20
}

// Fingerprint is a digest of the report's content. A replayed external id
// with a different fingerprint is a client bug (or a guess at someone else's
// key) and is refused rather than answered with another citizen's ticket.
func (r *Report) Fingerprint() string {
	h := sha256.New()
	w := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	w(string(r.Channel))
	w(r.Line)
	w(r.Text)
	w(r.Category)
	w(r.Address)
	w(r.Reporter.Name)
	w(r.Reporter.Phone)
	w(r.Reporter.Email)
	w(r.Reporter.OpenID)
	if r.Location != nil {
		w(ftoa(r.Location.Lat))
		w(ftoa(r.Location.Lon))
	}
	for _, a := range r.Attachments {
		w(a.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// MaskEmail keeps the first character and the domain: z***@example.com.
func MaskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at < 1 {
		return strings.Repeat("*", len([]rune(e)))
	}
	r := []rune(e[:at])
	return string(r[:1]) + "***" + e[at:]
}

// MaskPhone keeps the first three and last four digits of the national
// number: 138****5678 (for 13812345678 and +8613812345678 alike).
func MaskPhone(p string) string {
	r := []rune(strings.TrimPrefix(p, "+86"))
	if len(r) <= 7 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:3]) + strings.Repeat("*", len(r)-7) + string(r[len(r)-4:])
}
