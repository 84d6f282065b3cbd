package ticketing

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var at = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// actions are every workflow method, each with valid arguments, so that
// only the state (and the guards prepare meets) decides whether it is
// allowed.
var actions = map[Action]func(t *Ticket) error{
	ActRegister:         func(t *Ticket) error { return t.Register(at, "d", "") },
	ActDecline:          func(t *Ticket) error { return t.Decline(at, "d", "out of scope") },
	ActResolveOnContact: func(t *Ticket) error { return t.ResolveOnContact(at, "a", "answered") },
	ActDispatch: func(t *Ticket) error {
		return t.Dispatch(at, "d", Assignment{Department: "x", Deadline: at.Add(time.Hour)}, "改派：原单位非主管部门")
	},
	ActAccept:           func(t *Ticket) error { return t.Accept(at, "l") },
	ActReturn:           func(t *Ticket) error { return t.Return(at, "l", "not ours") },
	ActRefuseReturn:     func(t *Ticket) error { return t.RefuseReturn(at, "d", "it is yours") },
	ActReportHandled:    func(t *Ticket) error { return t.ReportHandled(at, "l", "fixed") },
	ActVerify:           func(t *Ticket) error { return t.Verify(at, "s", false, "still broken") },
	ActRequestExtension: func(t *Ticket) error { return t.RequestExtension(at, "l", at.Add(48*time.Hour), "parts") },
	ActDecideExtension:  func(t *Ticket) error { return t.DecideExtension(at, "d", true, "") },
	ActEvaluate:         func(t *Ticket) error { return t.Evaluate(at, "c", Evaluation{Satisfaction: Unsatisfied}) },
	ActReopen:           func(t *Ticket) error { return t.Reopen(at, "c", "没修好") },
	ActMerge: func(t *Ticket) error {
		return t.MergeInto(at, "d", &Ticket{ID: 99, Number: "x", Status: StatusDispatched})
	},
	ActSupplement: func(t *Ticket) error { return t.Supplement(at, "citizen", Supplement{Text: "还在漏"}) },
	ActNote:       func(t *Ticket) error { return t.AddNote(at, "d", EventNote, "已联系市民", "") },
	ActRaise:      func(t *Ticket) error { return t.Raise(at, "s", "街道无执法权", Clocks{}) },
	ActHandDown:   func(t *Ticket) error { return t.HandDown(at, "d", "s1", "", Clocks{}) },
	ActTakeOver:   func(t *Ticket) error { return t.TakeOver(at, "c", "", "", Clocks{}) },
	ActReportPart: func(t *Ticket) error { return t.ReportPart(at, "l", "cg", "已清理") },
	ActWaivePart:  func(t *Ticket) error { return t.WaivePart(at, "d", "cg", "无需协办") },
	ActTakeTask:   func(t *Ticket) error { return t.TakeTask(at, "sup") },
	ActSelfHandle: func(t *Ticket) error { return t.SelfHandle(at, "sup", "已扶正", Attachment{ID: "after.jpg"}) },
	ActConfirm:    func(t *Ticket) error { return t.Confirm(at, "sup", true, "") },
	ActInspect: func(t *Ticket) error {
		return t.Inspect(at, "sup", true, "", Attachment{ID: "site.jpg", ContentType: "image/jpeg"})
	},
}

// prepare meets a's guard on t, the ticket's own condition beside its state.
func prepare(a Action, t *Ticket) {
	switch a {
	case ActDecideExtension:
		t.Extension = &Extension{Until: at.Add(48 * time.Hour), Reason: "parts"}
	case ActReopen:
		t.Evaluation = &Evaluation{Satisfaction: Unsatisfied}
	case ActRaise, ActTakeOver: // a street holds it
		t.Area, t.Centre = Area{District: "d1", Street: "s1"}, "s1"
	case ActHandDown: // the city holds it
		t.Area = Area{District: "d1", Street: "s1"}
	case ActTakeTask:
		t.Task = TaskInspect
	case ActSelfHandle:
		t.Attachments = []Attachment{{ID: "before.jpg"}}
	case ActConfirm:
		t.Task = TaskConfirm
	case ActInspect:
		t.Task = TaskInspect
	case ActReportPart, ActWaivePart: // an assisting department's part is open
		t.Assisting, t.Parts = []string{"cg"}, []Part{{Department: "cg", DueAt: at.Add(time.Hour)}}
	}
}

var update = flag.Bool("update", false, "rewrite testdata/workflow.txt from the transition table")

// TestTransitionTable walks the whole table: every action from every
// state, through the method itself, must do exactly what the table says.
// testdata/workflow.txt is the table as text, rewritten with -update, so
// a change to a rule shows in review.
func TestTransitionTable(t *testing.T) {
	var doc strings.Builder
	for _, a := range Actions() {
		act := actions[a]
		if act == nil {
			t.Fatalf("%s: no method in the test's actions", a)
		}
		var from []string
		for _, st := range a.From() {
			from = append(from, string(st))
		}
		fmt.Fprintf(&doc, "%-18s %s\n", a, strings.Join(from, " "))
		for _, st := range Statuses {
			tk := &Ticket{ID: 1, Status: st, DueAt: at.Add(24 * time.Hour)}
			prepare(a, tk)
			want := slices.Contains(a.From(), st)
			if tk.Can(a) != want {
				t.Errorf("%s from %s: Can = %v, want %v", a, st, !want, want)
			}
			err := act(tk)
			switch {
			case want && err != nil:
				t.Errorf("%s from %s: %v, want allowed", a, st, err)
			case want && len(tk.PendingEvents()) != 1:
				t.Errorf("%s from %s: %d events, want 1", a, st, len(tk.PendingEvents()))
			case !want && !errors.Is(err, ErrIllegalTransition):
				t.Errorf("%s from %s: err = %v, want illegal transition", a, st, err)
			case !want && (tk.Status != st || len(tk.PendingEvents()) != 0):
				t.Errorf("%s from %s: a refused action changed the ticket", a, st)
			}
		}
	}
	if len(actions) != len(Actions()) {
		t.Errorf("the test has %d actions, the table %d", len(actions), len(Actions()))
	}
	golden := filepath.Join("testdata", "workflow.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(doc.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if doc.String() != string(want) {
		t.Errorf("the transition table changed; review and run go test -run TestTransitionTable -update:\n%s", doc.String())
	}
}

// TestGuards: a state that allows an action is not enough where the
// ticket's own condition does not hold, and Can says so before the method.
func TestGuards(t *testing.T) {
	for _, tc := range []struct {
		a    Action
		tk   *Ticket
		code string
	}{
		{ActRequestExtension, &Ticket{Status: StatusAccepted, Extension: &Extension{}}, "extension_pending"},
		{ActDecideExtension, &Ticket{Status: StatusAccepted}, "no_extension_pending"},
		{ActEvaluate, &Ticket{Status: StatusClosed, Evaluation: &Evaluation{Satisfaction: Satisfied}}, "already_evaluated"},
		{ActReopen, &Ticket{Status: StatusClosed, Evaluation: &Evaluation{Satisfaction: Satisfied, Solved: true}}, "not_reopenable"},
		{ActReopen, &Ticket{Status: StatusClosed}, "not_reopenable"},
	} {
		tc.tk.DueAt = at.Add(time.Hour)
		if tc.tk.Can(tc.a) {
			t.Errorf("%s on %+v: Can = true", tc.a, tc.tk)
		}
		var e *Error
		if err := actions[tc.a](tc.tk); !errors.As(err, &e) || e.Code != tc.code || len(tc.tk.PendingEvents()) != 0 {
			t.Errorf("%s: err = %v, want %s and no change", tc.a, err, tc.code)
		}
	}
	if (&Ticket{Status: StatusClosed, Evaluation: &Evaluation{Satisfaction: BasicSatisfied, Solved: true}}).Can(ActReopen) {
		t.Error("a basically satisfied, solved ticket can be reopened")
	}
	if !(&Ticket{Status: StatusClosed, Evaluation: &Evaluation{Satisfaction: Satisfied}}).Can(ActReopen) {
		t.Error("a ticket evaluated as unsolved cannot be reopened")
	}
	if (&Ticket{Status: StatusClosed}).Can("fly") {
		t.Error("an unknown action is allowed")
	}
}

// TestRedispatchNeedsNote: sending a ticket where it has already been sent
// (改派) needs a note, added to the reason the citizen sees; the first
// dispatch does not.
func TestRedispatchNeedsNote(t *testing.T) {
	a := Assignment{Department: "x", Deadline: at.Add(time.Hour), Reason: "路灯类"}
	for _, st := range []Status{StatusReturned, StatusDispatched} {
		tk := &Ticket{ID: 1, Status: st}
		if err := tk.Dispatch(at, "d", a, "  "); !errors.Is(err, ErrInvalid) || tk.Status != st {
			t.Errorf("re-dispatch from %s without a note: %v", st, err)
		}
		if err := tk.Dispatch(at, "d", a, "属地在朝阳"); err != nil || tk.RoutingReason != "路灯类；属地在朝阳" {
			t.Errorf("re-dispatch from %s: %v, reason %q", st, err, tk.RoutingReason)
		}
	}
	tk := &Ticket{ID: 1, Status: StatusRegistered}
	if err := tk.Dispatch(at, "d", a, ""); err != nil || tk.RoutingReason != "路灯类" {
		t.Errorf("first dispatch: %v, reason %q", err, tk.RoutingReason)
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
		"dispatch without dept":  (&Ticket{Status: StatusRegistered}).Dispatch(at, "d", Assignment{Deadline: at.Add(time.Hour)}, ""),
		"dispatch in the past":   (&Ticket{Status: StatusRegistered}).Dispatch(at, "d", Assignment{Department: "x", Deadline: at}, ""),
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
