package ticketing

import (
	"slices"
	"strings"
	"time"
)

// Events of linkage (联动): an assisting department's part of a case.
const (
	EventPartReported EventType = "part_reported" // 协办反馈
	EventPartWaived   EventType = "part_waived"   // 协办免报, by a dispatcher with a reason
)

// AttachmentPartPrefix marks a photo an assisting department sent with its
// part: the Kind is the prefix and the department's code.
const AttachmentPartPrefix = "part:"

// Part is an assisting department's share of a case (协办, 联动): its
// liaisons report it, with photos, before DueAt; the lead department (主办)
// cannot report the case handled until every part is in or waived.
type Part struct {
	Department string    `json:"department"`
	DueAt      time.Time `json:"due_at"`
	ReportedAt time.Time `json:"reported_at,omitzero"`
	ReportedBy string    `json:"reported_by,omitempty"`
	Result     string    `json:"result,omitempty"`
	// Waived is the dispatcher's reason for closing the part unreported
	// (the department had nothing to do after all, or cannot act).
	Waived   string    `json:"waived,omitempty"`
	WaivedBy string    `json:"waived_by,omitempty"`
	WaivedAt time.Time `json:"waived_at,omitzero"`
}

// In reports whether the part no longer holds the case up.
func (p Part) In() bool { return !p.ReportedAt.IsZero() || p.Waived != "" }

// partsFor are the parts of the assisting departments of a case dispatched
// at at with the deadline due: each is due when three quarters of the
// case's time have run, so the lead has the last quarter to put the
// result together.
func partsFor(assisting []string, at, due time.Time) []Part {
	var out []Part
	for _, d := range assisting {
		if d == "" || slices.ContainsFunc(out, func(p Part) bool { return p.Department == d }) {
			continue
		}
		out = append(out, Part{Department: d, DueAt: at.Add(due.Sub(at) * 3 / 4).Truncate(time.Microsecond)})
	}
	return out
}

// Pending lists the departments whose parts are not in yet.
func (t *Ticket) Pending() []string {
	var out []string
	for _, p := range t.Parts {
		if !p.In() {
			out = append(out, p.Department)
		}
	}
	return out
}

// part is the index of dept's part; -1 when it has none.
func (t *Ticket) part(dept string) int {
	return slices.IndexFunc(t.Parts, func(p Part) bool { return p.Department == dept })
}

// partsIn is reporting the case handled's condition: no part outstanding.
func partsIn(t *Ticket) error {
	if pending := t.Pending(); len(pending) > 0 {
		return &Error{Kind: KindConflict, Code: "parts_pending", Field: "parts",
			Message: "the assisting departments' parts are not all in: " + strings.Join(pending, ", ")}
	}
	return nil
}

// aPartOpen is the condition of reporting and waiving a part: one is still open.
func aPartOpen(t *Ticket) error {
	if len(t.Pending()) == 0 {
		return &Error{Kind: KindConflict, Code: "no_part_pending", Field: "parts", Message: "no assisting department's part is open"}
	}
	return nil
}

// ReportPart is an assisting department reporting its part of the case,
// with at most MaxResultPhotos photos. A part reported already is not
// reported again.
func (t *Ticket) ReportPart(at time.Time, actor, dept, result string, photos ...Attachment) error {
	if err := t.check(ActReportPart); err != nil {
		return err
	}
	i, err := t.openPart(dept)
	if err != nil {
		return err
	}
	result = strings.TrimSpace(result)
	if err := required("result", result); err != nil {
		return err
	}
	if len(photos) > MaxResultPhotos {
		return Invalid("photos", "at most %d photos per result", MaxResultPhotos)
	}
	for _, p := range photos {
		p.Kind = AttachmentPartPrefix + dept
		t.Attachments = append(t.Attachments, p)
	}
	t.Parts[i].ReportedAt, t.Parts[i].ReportedBy, t.Parts[i].Result = at, actor, result
	note := dept + "：" + result
	if n := len(photos); n > 0 {
		note += "（附照片 " + itoa(n) + " 张）"
	}
	t.record(at, actor, EventPartReported, t.Status, note, "")
	return nil
}

// WaivePart is a dispatcher closing an assisting department's part
// unreported, with the reason, so the lead may report the case handled.
func (t *Ticket) WaivePart(at time.Time, actor, dept, reason string) error {
	if err := t.check(ActWaivePart); err != nil {
		return err
	}
	i, err := t.openPart(dept)
	if err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if err := required("reason", reason); err != nil {
		return err
	}
	t.Parts[i].Waived, t.Parts[i].WaivedBy, t.Parts[i].WaivedAt = reason, actor, at
	t.record(at, actor, EventPartWaived, t.Status, dept+"：免报，"+reason, "")
	return nil
}

func (t *Ticket) openPart(dept string) (int, error) {
	i := t.part(dept)
	switch {
	case i < 0:
		return 0, Invalid("department", "%q has no part in this case", dept)
	case t.Parts[i].In():
		return 0, &Error{Kind: KindConflict, Code: "part_in", Field: "department", Message: "the part of " + dept + " is in already"}
	}
	return i, nil
}

// PartPhotos are the photos the assisting departments sent with their parts.
func (t *Ticket) PartPhotos() []Attachment {
	var out []Attachment
	for _, a := range t.Attachments {
		if strings.HasPrefix(a.Kind, AttachmentPartPrefix) {
			out = append(out, a)
		}
	}
	return out
}

// Assists reports whether v's department assists t (协办) and may report
// its part.
func (v Viewer) Assists(t *Ticket) bool {
	return v.Role == RoleLiaison && v.Department != "" && slices.Contains(t.Assisting, v.Department)
}
