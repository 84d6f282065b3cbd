package ticketing

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// Linkage (联动): dispatching with assisting departments gives each a part
// due when three quarters of the time have run; the lead cannot report the
// case handled while a part is open; a part is reported once, with its
// photos marked as that department's, or waived with a reason.
func TestLinkageParts(t *testing.T) {
	tk := &Ticket{ID: 1, Status: StatusRegistered}
	due := at.Add(48 * time.Hour)
	if err := tk.Dispatch(at, "d", Assignment{Department: "swj", Assisting: []string{"cg", "jdb", "cg"}, Deadline: due}, ""); err != nil {
		t.Fatal(err)
	}
	if len(tk.Parts) != 2 || tk.Parts[0].Department != "cg" || !tk.Parts[1].DueAt.Equal(at.Add(36*time.Hour)) {
		t.Fatalf("parts: %+v", tk.Parts)
	}
	if err := tk.Accept(at, "li.swj"); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if err := tk.ReportHandled(at, "li.swj", "已修复"); !errors.As(err, &e) || e.Code != "parts_pending" || tk.Status != StatusAccepted {
		t.Fatalf("handled with parts open: %v", err)
	}
	if tk.Can(ActReportHandled) {
		t.Error("Can offers reporting handled while parts are open")
	}
	for _, bad := range []struct {
		dept, result string
		kind         Kind
	}{{"zjw", "x", KindInvalid}, {"cg", " ", KindInvalid}} {
		if err := tk.ReportPart(at, "x", bad.dept, bad.result); KindOf(err) != bad.kind {
			t.Errorf("part of %q with %q: %v", bad.dept, bad.result, err)
		}
	}
	photo := Attachment{ID: "p1.jpg", ContentType: "image/jpeg"}
	if err := tk.ReportPart(at, "li.cg", "cg", "垃圾已清运", photo); err != nil {
		t.Fatal(err)
	}
	if err := tk.ReportPart(at, "li.cg", "cg", "again"); !errors.As(err, &e) || e.Code != "part_in" {
		t.Errorf("a part reported twice: %v", err)
	}
	if err := tk.WaivePart(at, "disp", "jdb", ""); KindOf(err) != KindInvalid {
		t.Errorf("waive without a reason: %v", err)
	}
	if err := tk.WaivePart(at, "disp", "jdb", "现场无需街道配合"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tk.Pending(), nil) || tk.Can(ActReportPart) || tk.Can(ActWaivePart) {
		t.Fatalf("pending %v after every part is in", tk.Pending())
	}
	if err := tk.ReportHandled(at, "li.swj", "已修复"); err != nil || tk.Status != StatusHandled {
		t.Fatalf("handled once the parts are in: %v", err)
	}
	if len(tk.CitizenPhotos()) != 0 || len(tk.photos(AttachmentPartPrefix+"cg")) != 1 {
		t.Errorf("photos: %+v", tk.Attachments)
	}
	types := []EventType{}
	for _, ev := range tk.PendingEvents() {
		types = append(types, ev.Type)
	}
	if !slices.Contains(types, EventPartReported) || !slices.Contains(types, EventPartWaived) {
		t.Errorf("events %v", types)
	}
	// A re-dispatch starts the linkage again with the new assisting list.
	tk.Status = StatusReturned
	if err := tk.Dispatch(at, "d", Assignment{Department: "cgw", Assisting: []string{"jdb"}, Deadline: due}, "改派"); err != nil {
		t.Fatal(err)
	}
	if len(tk.Parts) != 1 || tk.Parts[0].In() {
		t.Errorf("parts after the re-dispatch: %+v", tk.Parts)
	}
}
