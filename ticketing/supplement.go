package ticketing

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// EventSupplemented records what a citizen added to their report after
// it was taken (补充材料): more words, photos, where it is.
const EventSupplemented EventType = "supplemented"

// Supplement is what a citizen sends after the report: WeChat collects a
// conversation's messages into the ticket its first message made.
type Supplement struct {
	Text        string
	Attachments []Attachment
	Location    *Point // taken only if the ticket has none yet
	Address     string // likewise
	// Key is the idempotency key: the sender's id of the message, e.g.
	// "wechat:msg:<MsgId>", at most MaxSupplementKeyLen printable
	// characters. A supplement whose key the ticket has already taken
	// changes nothing and is not an error, so a sender that retries (WeChat
	// pushes a message up to three times) adds it once. "" never matches:
	// each such supplement is added.
	Key string
	// Report is the key (Report.ExternalID) the message would carry as a
	// report of its own. A retry of the message that made the ticket (its
	// first attempt stored the ticket and died before answering) meets the
	// ticket it made: it adds nothing to it (ErrAlreadyApplied), so the
	// citizen's words are not in their ticket twice.
	Report string
}

// MaxSupplementKeyLen bounds Supplement.Key, like MaxExternalIDLen a report's key.
const MaxSupplementKeyLen = 128

// Supplement adds s to an open ticket. Citizen photos beyond MaxAttachments in all
// are refused; the text goes to the log (the report's own text stays as
// the citizen first wrote it) and is shown on the tracking page.
func (t *Ticket) Supplement(at time.Time, actor string, s Supplement) error {
	if s.Report != "" && s.Report == t.ExternalID {
		return ErrAlreadyApplied
	}
	if err := t.check(ActSupplement); err != nil {
		return err
	}
	s.Key = strings.TrimSpace(s.Key)
	s.Text = strings.TrimSpace(s.Text)
	s.Address = strings.TrimSpace(s.Address)
	if len(s.Key) > MaxSupplementKeyLen || !utf8.ValidString(s.Key) || !printable(s.Key) {
		return Invalid("key", "must be at most %d printable characters", MaxSupplementKeyLen)
	}
	if s.Text == "" && len(s.Attachments) == 0 && s.Location == nil && s.Address == "" {
		return Invalid("supplement", "nothing to add")
	}
	if !utf8.ValidString(s.Text) || hasControl(s.Text) || utf8.RuneCountInString(s.Text) > MaxTextRunes {
		return Invalid("text", "must be valid text of at most %d characters", MaxTextRunes)
	}
	if !utf8.ValidString(s.Address) || hasControl(s.Address) || utf8.RuneCountInString(s.Address) > MaxAddressRunes {
		return Invalid("address", "must be valid text of at most %d characters", MaxAddressRunes)
	}
	if s.Location != nil {
		if err := s.Location.Validate(); err != nil {
			return err
		}
	}
	if len(t.CitizenPhotos())+len(s.Attachments) > MaxAttachments {
		return &Error{Kind: KindTooLarge, Field: "photos", Message: "at most " + itoa(MaxAttachments) + " photos in all"}
	}
	t.Attachments = append(t.Attachments, s.Attachments...)
	var parts []string
	if s.Location != nil && t.Location == nil {
		t.Location = s.Location
		parts = append(parts, "位置")
	}
	if s.Address != "" && t.Address == "" {
		t.Address = s.Address
		parts = append(parts, "地址")
	}
	if n := len(s.Attachments); n > 0 {
		parts = append(parts, itoa(n)+" 张照片")
	}
	public := "市民补充"
	if len(parts) > 0 {
		public += "了" + strings.Join(parts, "、")
	}
	if s.Text != "" {
		public += "：" + s.Text
	}
	t.record(at, actor, EventSupplemented, t.Status, "", public)
	t.take(s.Key)
	return nil
}

// Supplement adds a citizen's later messages to their open ticket, once
// per Supplement.Key: when the ticket has taken the key already (a retry,
// on this instance or another), nothing is written and the ticket is
// returned as it is, with a nil error.
//
// A location that places a report still waiting at the centre (received,
// on no cell yet: a WeChat citizen who sends the words first and where
// second) places it as routing would have: its area, the centre of that
// area, and, for a type checked on site first, the 核实 task for the
// cell's supervisors.
func (s *Service) Supplement(ctx context.Context, number, actor string, sup Supplement) (*Ticket, error) {
	clocks := s.Clocks()
	t, err := s.Act(ctx, number, func(t *Ticket, now time.Time) error {
		unplaced := t.Location == nil && t.Area.Grid == "" && t.Status == StatusReceived && t.Task == ""
		if err := t.Supplement(now, actor, sup); err != nil {
			return err
		}
		if unplaced && t.Location != nil {
			s.place(ctx, t, now, clocks)
		}
		return nil
	})
	if errors.Is(err, ErrAlreadyApplied) {
		return s.Ticket(ctx, number)
	}
	return t, err
}

// place routes a received report again now that it has a location, and
// takes what routing says of where it is. Routing down or the point
// outside the grid leave it as it was, for a dispatcher.
func (s *Service) place(ctx context.Context, t *Ticket, now time.Time, clocks Clocks) {
	a, err := s.router.Route(ctx, Report{Channel: t.Channel, Text: t.Text, Category: t.Category, Location: t.Location,
		Address: t.Address, ReceivedAt: t.ReceivedAt})
	if err != nil || a.Area.Grid == "" {
		return
	}
	t.Area = a.Area
	if t.Centre == "" {
		t.Centre, t.CentreDue = a.Centre, a.CentreDue
		t.schedule(t.CentreDue)
	}
	if a.Confirm {
		t.AwaitConfirm(now, clocks)
	}
}
