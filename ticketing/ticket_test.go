package ticketing

import (
	"errors"
	"testing"
	"time"
)

var at = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// actions are every workflow method, each with valid arguments, so that
// only the state decides whether it is allowed.
var actions = map[string]func(t *Ticket) error{
	"register": func(t *Ticket) error { return t.Register(at, "d", "") },
	"decline":  func(t *Ticket) error { return t.Decline(at, "d", "out of scope") },
	"resolve":  func(t *Ticket) error { return t.ResolveOnContact(at, "a", "answered") },
	"dispatch": func(t *Ticket) error {
		return t.Dispatch(at, "d", Assignment{Department: "x", Deadline: at.Add(time.Hour)})
	},
	"accept":            func(t *Ticket) error { return t.Accept(at, "l") },
	"return":            func(t *Ticket) error { return t.Return(at, "l", "not ours") },
	"refuse return":     func(t *Ticket) error { return t.RefuseReturn(at, "d", "it is yours") },
	"report handled":    func(t *Ticket) error { return t.ReportHandled(at, "l", "fixed") },
	"verify pass":       func(t *Ticket) error { return t.Verify(at, "s", true, "") },
	"verify fail":       func(t *Ticket) error { return t.Verify(at, "s", false, "still broken") },
	"request extension": func(t *Ticket) error { return t.RequestExtension(at, "l", at.Add(48*time.Hour), "parts") },
	"evaluate":          func(t *Ticket) error { return t.Evaluate(at, "c", Evaluation{Satisfaction: Unsatisfied}) },
	"merge": func(t *Ticket) error {
		return t.MergeInto(at, "d", &Ticket{ID: 99, Number: "x", Status: StatusDispatched})
	},
}

// allowed is the workflow of DESIGN.md as a table: state → actions allowed in it.
var allowed = map[Status][]string{
	StatusReceived:          {"register", "decline", "resolve", "merge"},
	StatusRegistered:        {"decline", "dispatch", "merge"},
	StatusNotRegistered:     {},
	StatusResolvedOnContact: {"evaluate"},
	StatusDispatched:        {"dispatch", "accept", "return", "request extension", "merge"},
	StatusAccepted:          {"return", "report handled", "request extension"},
	StatusReturned:          {"dispatch", "refuse return", "merge"},
	StatusHandled:           {"verify pass", "verify fail"},
	StatusClosed:            {"evaluate"},
	StatusMerged:            {},
}

func TestTransitionTable(t *testing.T) {
	for _, from := range Statuses {
		ok := map[string]bool{}
		for _, a := range allowed[from] {
			ok[a] = true
		}
		for name, act := range actions {
			tk := &Ticket{ID: 1, Status: from, DueAt: at.Add(24 * time.Hour)}
			err := act(tk)
			switch {
			case ok[name] && err != nil:
				t.Errorf("%s from %s: %v, want allowed", name, from, err)
			case ok[name] && len(tk.PendingEvents()) != 1:
				t.Errorf("%s from %s: %d events, want 1", name, from, len(tk.PendingEvents()))
			case !ok[name] && !errors.Is(err, ErrIllegalTransition):
				t.Errorf("%s from %s: err = %v, want illegal transition", name, from, err)
			case !ok[name] && (tk.Status != from || len(tk.PendingEvents()) != 0):
				t.Errorf("%s from %s: a refused action changed the ticket", name, from)
			}
		}
	}
}

func TestTransitionEffects(t *testing.T) {
	tk := &Ticket{ID: 1, Status: StatusHandled, DueAt: at}
	if err := tk.Verify(at, "s", false, "积水未清"); err != nil {
		t.Fatal(err)
	}
	if tk.Status != StatusAccepted || tk.ReworkCount != 1 {
		t.Errorf("rework: status %s count %d", tk.Status, tk.ReworkCount)
	}
	e := tk.PendingEvents()[0]
	if e.From != StatusHandled || e.To != StatusAccepted || e.Type != EventRework || e.Note != "积水未清" || e.Actor != "s" {
		t.Errorf("rework event = %+v", e)
	}
	tk = &Ticket{ID: 1, Status: StatusAccepted, DueAt: at}
	if err := tk.RequestExtension(at, "l", at.Add(-time.Hour), "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("extension to an earlier deadline: %v", err)
	}
	if err := tk.DecideExtension(at, "d", true, ""); !errors.Is(err, ErrConflict) {
		t.Errorf("deciding with nothing pending: %v", err)
	}
	tk = &Ticket{ID: 1, Status: StatusClosed, Evaluation: &Evaluation{Satisfaction: Satisfied, Solved: true}}
	if err := tk.Reopen(at, "s", "x"); !errors.Is(err, ErrConflict) {
		t.Errorf("reopening a satisfied ticket: %v", err)
	}
	tk = &Ticket{ID: 1, Status: StatusReceived}
	for name, err := range map[string]error{
		"decline without reason": tk.Decline(at, "d", " "),
		"dispatch without dept":  (&Ticket{Status: StatusRegistered}).Dispatch(at, "d", Assignment{Deadline: at.Add(time.Hour)}),
		"dispatch in the past":   (&Ticket{Status: StatusRegistered}).Dispatch(at, "d", Assignment{Department: "x", Deadline: at}),
		"merge into itself":      tk.MergeInto(at, "d", tk),
		"merge into closed":      tk.MergeInto(at, "d", &Ticket{ID: 2, Status: StatusClosed}),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestReportHandledPhotos(t *testing.T) {
	tk := &Ticket{ID: 1, Status: StatusAccepted, DueAt: at.Add(time.Hour), Attachments: []Attachment{{ID: "citizen.jpg"}}}
	if err := tk.ReportHandled(at, "l", "已更换", make([]Attachment, MaxResultPhotos+1)...); !errors.Is(err, ErrInvalid) || tk.Status != StatusAccepted || len(tk.Attachments) != 1 {
		t.Fatalf("six photos: %v, status %s, %d attachments", err, tk.Status, len(tk.Attachments))
	}
	if err := tk.ReportHandled(at, "l", "已更换", Attachment{ID: "a.jpg"}, Attachment{ID: "b.jpg", Kind: "other"}); err != nil {
		t.Fatal(err)
	}
	if c, r := tk.CitizenPhotos(), tk.ResultPhotos(); len(c) != 1 || c[0].ID != "citizen.jpg" ||
		len(r) != 2 || r[0].ID != "a.jpg" || r[1].Kind != AttachmentResult {
		t.Errorf("citizen %+v, result %+v", c, r)
	}
	if e := tk.PendingEvents()[0]; e.Note != "已更换（附照片 2 张）" || e.Public != "处置结果：已更换" {
		t.Errorf("event = %+v", e)
	}
}

func TestNumbers(t *testing.T) {
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	n := FormatNumber(1234567, day)
	if len(n) != NumberLen || n[:6] != "261125" || n[6:13] != "1234567" || !ValidNumber(n) {
		t.Fatalf("FormatNumber = %s", n)
	}
	if FormatNumber(10_000_001, day)[6:13] != "0000001" {
		t.Error("the sequence part does not wrap at ten million")
	}
	// Every single-digit typo and every adjacent swap is caught.
	for i := range n {
		for d := byte('0'); d <= '9'; d++ {
			if d == n[i] {
				continue
			}
			typo := n[:i] + string(d) + n[i+1:]
			if ValidNumber(typo) {
				t.Errorf("typo %s accepted", typo)
			}
		}
		if i+1 < len(n) && n[i] != n[i+1] {
			swapped := n[:i] + string(n[i+1]) + string(n[i]) + n[i+2:]
			if ValidNumber(swapped) {
				t.Errorf("swap %s accepted", swapped)
			}
		}
	}
	for _, bad := range []string{"", "123", "2611251234567x", "26112512345670"[:13], "２６１１２５１２３４５６７０"} {
		if ValidNumber(bad) {
			t.Errorf("ValidNumber(%q) = true", bad)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	err := Invalid("text", "is required")
	if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) || KindOf(err) != KindInvalid {
		t.Errorf("Invalid: Is/KindOf wrong for %v", err)
	}
	var te error = &TransitionError{Action: "accept", From: StatusClosed}
	var e *Error
	if !errors.As(te, &e) || e.Kind != KindConflict || e.ErrorCode() != "illegal_transition" {
		t.Errorf("TransitionError as *Error = %+v", e)
	}
	if KindOf(errors.New("boom")) != KindInternal {
		t.Error("a plain error is not internal")
	}
	if got := MaskPhone("13800138000"); got != "138****8000" {
		t.Errorf("MaskPhone = %s", got)
	}
}

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{"zhang@example.com": "z***@example.com", "a@b.cn": "a***@b.cn", "nope": "****", "@x": "**"} {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContactFormats(t *testing.T) {
	ok := []Contact{{Phone: "+44 (0)7700 900123"}, {Phone: "010.6512.3456"}, {Email: "o'brien@example.ie"}}
	bad := []Contact{{Phone: "call me"}, {Email: "a@b@c"}, {Email: "x <x@y>"}}
	for _, c := range ok {
		r := Report{Channel: ChannelOpen311, Text: "x", Reporter: c, ReceivedAt: at}
		if err := r.Validate(); err != nil {
			t.Errorf("%+v refused: %v", c, err)
		}
	}
	for _, c := range bad {
		r := Report{Channel: ChannelOpen311, Text: "x", Reporter: c, ReceivedAt: at}
		if err := r.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
