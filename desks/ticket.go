package desks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/ticketing"
)

// ticketFor loads the ticket st asks for by number. A malformed number, an
// unknown one and another department's ticket (for a liaison) are the same
// not found, so numbers cannot be probed.
func (s *Server) ticketFor(ctx context.Context, st *staff, number string) (*ticketing.Ticket, error) {
	t, err := s.tickets.Ticket(ctx, number)
	if errors.Is(err, ticketing.ErrNotFound) || (err == nil && !sees(st, t)) {
		return nil, notFound()
	}
	return t, err
}

// openTicket loads the ticket st asks for with its log. When shownIn
// names the door the reporter's contact is about to be shown through ("desk-page", "desk-api"),
// the view is audited first, and nothing is shown if it cannot be.
func (s *Server) openTicket(r *http.Request, st *staff, number, shownIn string) (*ticketing.Ticket, []ticketing.Event, error) {
	t, err := s.ticketFor(r.Context(), st, number)
	if err != nil {
		return nil, nil, err
	}
	evs, err := s.tickets.Events(r.Context(), t)
	if err != nil {
		return nil, nil, err
	}
	if shownIn != "" {
		// The desks show the name in full and the phone and e-mail masked
		// (the phone in full only on a reveal, audited by itself).
		var fields []ticketing.Field
		if t.Reporter.Name != "" {
			fields = append(fields, ticketing.FieldName)
		}
		e := ticketing.ViewAudit(st.Actor, st.Role, shownIn, t.Number, fields, clientIP(r), s.cfg.Now())
		if err := s.store.AppendAudit(r.Context(), e); err != nil {
			return nil, nil, err
		}
	}
	return t, evs, nil
}

// forbiddenHere refuses an assisting department's liaison a step that is
// the lead department's.
func forbiddenHere(a action) error {
	return ticketing.Errorf(ticketing.KindForbidden, "action",
		"%s is the lead department's step; an assisting department may add notes", string(a))
}

func notFound() error {
	return ticketing.Errorf(ticketing.KindNotFound, "number", "no ticket has this number")
}

// ticketData is the ticket page's.
type ticketData struct {
	T      *ticketing.Ticket
	Events []ticketing.Event
	Light  ticketing.Light
	// Phone and Email are masked unless Revealed (POST .../reveal).
	Phone, Email string
	Revealed     bool
	CanReveal    bool
	Actions      []action
	// Preview is routing's suggestion for the dispatch form; PreviewFailed
	// when routing could not make one.
	Preview       *ticketing.Assignment
	PreviewFailed bool
	Departments   []Department
	Categories    []Category
	// SuggestUntil fills the extension form: three days past the deadline.
	SuggestUntil time.Time
	// PhotoStore is set when photos can be shown and sent with a result.
	PhotoStore bool
	// Failed is the action whose form is shown again with Form's values.
	Failed action
	Form   url.Values
	// Centre names the centre holding the case; Below are the centres it
	// may be handed down to (the hand-down form's choices).
	Centre    string
	Below     []Department
	TaskLight ticketing.Light // the supervisors' open task's light
	// names names departments by code (the catalogue's).
	names func(code string) (string, bool)
}

// DeptName is the department's name, or its code when the catalogue does
// not know it.
func (d *ticketData) DeptName(code string) string {
	if d.names == nil {
		return code
	}
	n, _ := d.names(code)
	return n
}

// Value is the form's earlier input for field, or def.
func (d *ticketData) Value(a action, field, def string) string {
	if d.Failed == a && d.Form.Has(field) {
		return d.Form.Get(field)
	}
	return def
}

// photoGroup is one list of a ticket's photos on its page.
type photoGroup struct {
	ID, ZH, EN string
	Photos     []ticketing.Attachment
}

// PhotoGroups are the citizen's photos and the department's result photos,
// each listed apart; an empty list is left out.
func (d *ticketData) PhotoGroups() []photoGroup {
	if !d.PhotoStore {
		return nil
	}
	var out []photoGroup
	for _, g := range []photoGroup{
		{"citizen-photos", "市民照片", "Citizen's photos", d.T.CitizenPhotos()},
		{"result-photos", "处置结果照片", "Result photos", d.T.ResultPhotos()},
		{"part-photos", "协办单位照片", "Assisting departments' photos", d.T.PartPhotos()},
		{"site-photos", "网格员核实核查照片", "Supervisors' photos from site", d.T.SitePhotos()},
	} {
		if len(g.Photos) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// ticketPage says how to show the ticket page besides the ticket.
type ticketPage struct {
	code     int
	errMsg   string
	failed   action
	form     url.Values
	revealed bool // the phone was revealed (and that audited)
}

func (s *Server) getTicket(w http.ResponseWriter, r *http.Request) {
	s.showTicket(w, r, r.PathValue("number"), ticketPage{code: http.StatusOK})
}

// showTicket renders the staff view of a ticket: its facts, log and the
// actions st may take now. Showing the reporter's contact is audited first:
// if the audit cannot be written, the page is not shown.
func (s *Server) showTicket(w http.ResponseWriter, r *http.Request, number string, p ticketPage) {
	st := staffFrom(r.Context())
	shownIn := "desk-page"
	if p.revealed {
		shownIn = "" // the reveal is audited already
	}
	t, evs, err := s.openTicket(r, st, number, shownIn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := &ticketData{T: t, Events: evs, Light: t.LightAt(lastDispatch(evs), s.cfg.Now()),
		Phone: ticketing.MaskPhone(t.Reporter.Phone), Email: ticketing.MaskEmail(t.Reporter.Email),
		Revealed: p.revealed, CanReveal: s.mayReveal(st) && t.Reporter.Phone != "",
		Actions: offered(st, t), Failed: p.failed, Form: p.form, SuggestUntil: t.DueAt.Add(72 * time.Hour),
		PhotoStore: s.cfg.Photos != nil, Centre: s.centreName(t, t.Centre), names: s.departmentName,
		TaskLight: t.TaskLight(s.cfg.Now(), s.tickets.Clocks())}
	if p.revealed {
		d.Phone = t.Reporter.Phone
	}
	for _, a := range d.Actions {
		if a == actHandDown {
			d.Below = s.centresBelow(t)
		}
		if a == actDispatch {
			d.Departments, d.Categories = s.departmentsFor(st), s.cfg.Categories()
			if pv, err := s.tickets.Preview(r.Context(), t, ""); err == nil {
				d.Preview = &pv
			} else {
				d.PreviewFailed = true
				s.log.Warn("desk dispatch preview", "number", t.Number, "err", err)
			}
		}
	}
	s.render(w, r, p.code, "ticket.html", d, p.errMsg)
}

// mayDispatchTo refuses a local centre a department outside its area,
// chosen or as routing would choose it: the case is raised to the level
// whose departments can take it, not dispatched past it.
func (s *Server) mayDispatchTo(r *http.Request, st *staff, t *ticketing.Ticket, in input) error {
	if st.Area == "" || len(s.cfg.Departments()) == 0 {
		return nil
	}
	dept := in.Department
	if dept == "" {
		a, err := s.tickets.Preview(r.Context(), t, in.Category)
		if err != nil {
			return err
		}
		dept = a.Department
	}
	if dept == "" || slices.ContainsFunc(s.departmentsFor(st), func(d Department) bool { return d.Code == dept }) {
		return nil
	}
	return &ticketing.Error{Kind: ticketing.KindForbidden, Code: "department_outside_area", Field: "department",
		Message: "department " + dept + " is not one of your area's; raise the case to the level above instead"}
}

// centreName is how the page names the centre of code in t's area: its
// level and, where the grid names it, the area's name.
func (s *Server) centreName(t *ticketing.Ticket, code string) string {
	out := t.Area.LevelOf(code).Label() + "中心"
	if code == "" {
		return out
	}
	name := code
	if s.cfg.Areas != nil && s.cfg.Areas.Names[code] != "" {
		name = s.cfg.Areas.Names[code] + "（" + code + "）"
	}
	return out + " " + name
}

// centresBelow are the centres of t's own area under the one holding it.
func (s *Server) centresBelow(t *ticketing.Ticket) []Department {
	var out []Department
	for l := t.CentreLevel().Below(); l != "" && l != ticketing.LevelCell; l = l.Below() {
		if code := t.Area.At(l); code != "" {
			out = append(out, Department{Code: code, Name: s.centreName(t, code)})
		}
	}
	return out
}

// lastDispatch is when the ticket was last dispatched: its deadline's
// clock starts there.
func lastDispatch(evs []ticketing.Event) time.Time {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == ticketing.EventDispatched {
			return evs[i].At
		}
	}
	return time.Time{}
}

// postReveal shows the reporter's full phone number to a role allowed to
// see it, after writing the audit entry.
func (s *Server) postReveal(w http.ResponseWriter, r *http.Request) {
	st := staffFrom(r.Context())
	if !s.mayReveal(st) {
		s.fail(w, r, ticketing.Errorf(ticketing.KindForbidden, "", "your role may not reveal phone numbers"))
		return
	}
	t, err := s.ticketFor(r.Context(), st, r.PathValue("number"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if t.Reporter.Phone == "" {
		s.fail(w, r, ticketing.Errorf(ticketing.KindNotFound, "phone", "the reporter left no phone number"))
		return
	}
	door := "desk-page"
	if isAPI(r) {
		door = "desk-api"
	}
	if err := s.audit(r, st, "reveal_phone", t.Number, "door="+door+" fields=phone"); err != nil {
		s.fail(w, r, err)
		return
	}
	if isAPI(r) || wantsJSON(r) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"number": t.Number, "phone": t.Reporter.Phone})
		return
	}
	s.showTicket(w, r, t.Number, ticketPage{code: http.StatusOK, revealed: true})
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// input is one action's fields, from the form or a JSON body (same names).
type input struct {
	Reason     string `json:"reason"`
	Category   string `json:"category"`
	Department string `json:"department"`
	Note       string `json:"note"`
	Result     string `json:"result"`
	Until      string `json:"until"` // 2006-01-02T15:04 in the city's time zone
	Master     string `json:"master"`
	Text       string `json:"text"`
	Centre     string `json:"centre"` // the centre a case is handed down to
	// Assisting are the assisting departments (协办) a dispatch names.
	Assisting []string `json:"assisting"`
	Approve   yesNo    `json:"approve"` // yes or no (true or false in JSON)
	Pass      yesNo    `json:"pass"`
	// photos are the result form's files; saved, what became of them.
	photos []*multipart.FileHeader
	saved  []ticketing.Attachment
}

// yesNo is a form's yes or no; JSON may say true or false.
type yesNo string

func (y *yesNo) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*y = "no"
		if v {
			*y = "yes"
		}
	case string:
		*y = yesNo(v)
	default:
		return errors.New("must be yes or no")
	}
	return nil
}

func (y yesNo) value(field string) (bool, error) {
	switch y {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, ticketing.Invalid(field, "must be yes or no")
}

func formInput(r *http.Request) input {
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	in := input{Reason: f("reason"), Category: f("category"), Department: f("department"), Note: f("note"),
		Result: f("result"), Until: f("until"), Master: f("master"), Text: f("text"), Centre: f("centre"),
		Assisting: r.PostForm["assisting"],
		Approve:   yesNo(f("approve")), Pass: yesNo(f("pass"))}
	if r.MultipartForm != nil {
		in.photos = r.MultipartForm.File["photos"]
	}
	return in
}

// jsonInput reads an action's JSON body strictly: unknown fields are
// refused by name, so a typo is not silently an empty field.
func jsonInput(r *http.Request) (input, error) {
	var in input
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return in, &ticketing.Error{Kind: ticketing.KindUnsupported, Field: "Content-Type", Message: "send application/json"}
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil && !errors.Is(err, io.EOF) {
		if e := httpapi.AsError(err); e.Kind == ticketing.KindTooLarge {
			return in, e
		}
		return in, ticketing.Invalid("body", "is not a JSON object of the action's fields (%v)", err)
	}
	for _, p := range []*string{&in.Reason, &in.Category, &in.Department, &in.Note, &in.Result, &in.Until, &in.Master, &in.Text, &in.Centre} {
		*p = strings.TrimSpace(*p)
	}
	return in, nil
}

// postAction is one workflow action on a ticket, from the page's form
// (then back to the ticket page, 303) or the API (the ticket as JSON).
func (s *Server) postAction(w http.ResponseWriter, r *http.Request) {
	st := staffFrom(r.Context())
	number, a := r.PathValue("number"), action(r.PathValue("action"))
	var (
		in  input
		err error
	)
	if isAPI(r) {
		in, err = jsonInput(r)
	} else {
		in = formInput(r)
	}
	var t *ticketing.Ticket
	if err == nil {
		t, err = s.perform(r, st, number, a, in)
	}
	if isAPI(r) {
		if err != nil {
			s.fail(w, r, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, s.ticketJSON(t, nil, false))
		return
	}
	if err != nil {
		// What the staff can correct is shown on the ticket page with the
		// form filled in again; the rest is the error page.
		switch e := httpapi.AsError(err); e.Kind {
		case ticketing.KindInvalid, ticketing.KindConflict, ticketing.KindForbidden, ticketing.KindTooLarge:
			s.showTicket(w, r, number, ticketPage{code: httpapi.Status(e.Kind), errMsg: s.errorText(r, e), failed: a, form: r.PostForm})
		default:
			s.fail(w, r, err)
		}
		return
	}
	s.flash(w, a)
	http.Redirect(w, r, "/desk/tickets/"+t.Number, http.StatusSeeOther)
}

// perform checks that st may take action a on the ticket and takes it, in
// one transaction that checks the ticket's department again; then it
// audits the action and tells the desks.
func (s *Server) perform(r *http.Request, st *staff, number string, a action, in input) (*ticketing.Ticket, error) {
	ctx := r.Context()
	if !isTicketAction(a) {
		return nil, ticketing.Errorf(ticketing.KindNotFound, "action", "no action %q", string(a))
	}
	if !can(st, a) {
		return nil, forbidden(a)
	}
	before, err := s.ticketFor(ctx, st, number)
	if err != nil {
		return nil, err
	}
	if !works(st, a, before) {
		return nil, forbiddenHere(a)
	}
	var (
		t      *ticketing.Ticket
		detail string
	)
	switch a {
	case actDispatch:
		name, known := s.departmentName(in.Department)
		if in.Department != "" && !known && len(s.cfg.Departments()) > 0 {
			return nil, ticketing.Invalid("department", "unknown department %q", in.Department)
		}
		if err := s.mayDispatchTo(r, st, before, in); err != nil {
			return nil, err
		}
		if mine := s.departmentsFor(st); len(s.cfg.Departments()) > 0 {
			for _, a := range in.Assisting {
				if !slices.ContainsFunc(mine, func(d Department) bool { return d.Code == a }) {
					return nil, ticketing.Invalid("assisting", "%q is not a department you may ask to assist", a)
				}
			}
		}
		t, err = s.tickets.Dispatch(ctx, before.Number, st.Actor, ticketing.DispatchOrder{Category: in.Category,
			Department: in.Department, DepartmentName: name, Assisting: in.Assisting, Note: in.Note})
		if err == nil {
			detail = "department=" + t.Department
		}
	case actNote:
		if err = s.tickets.Note(ctx, before.Number, st.Actor, ticketing.EventNote, in.Text, ""); err == nil {
			t, err = s.tickets.Ticket(ctx, before.Number)
		}
	default:
		if in.saved, err = s.savePhotos(a, in.photos); err != nil {
			return nil, err
		}
		var fn func(*ticketing.Ticket, time.Time) error
		if fn, detail, err = s.step(ctx, st, a, in); err == nil {
			t, err = s.tickets.Act(ctx, before.Number, func(t *ticketing.Ticket, now time.Time) error {
				if !sees(st, t) {
					return notFound()
				}
				if !works(st, a, t) {
					return forbiddenHere(a)
				}
				return fn(t, now)
			})
		}
		if err != nil && len(in.saved) > 0 {
			s.cfg.Photos.Remove(in.saved)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := s.audit(r, st, string(a), t.Number, detail); err != nil {
		s.log.Error("desk action: audit", "number", t.Number, "action", a, "err", err)
	}
	if err := publish(ctx, s.bus, t, before.Department); err != nil {
		s.log.Warn("desk action: live event", "number", t.Number, "err", err)
	}
	s.log.Info("desk action", "number", t.Number, "action", a, "actor", st.Actor, "status", t.Status)
	return t, nil
}

// step turns a simple action's input into the ticket method that takes it.
func (s *Server) step(ctx context.Context, st *staff, a action, in input) (func(*ticketing.Ticket, time.Time) error, string, error) {
	actor := st.Actor
	switch a {
	case actRegister:
		return func(t *ticketing.Ticket, now time.Time) error { return t.Register(now, actor, in.Note) }, "", nil
	case actDecline:
		return func(t *ticketing.Ticket, now time.Time) error { return t.Decline(now, actor, in.Reason) }, "", nil
	case actAccept:
		return func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, actor) }, "", nil
	case actReturn:
		return func(t *ticketing.Ticket, now time.Time) error { return t.Return(now, actor, in.Reason) }, "", nil
	case actRefuseReturn:
		return func(t *ticketing.Ticket, now time.Time) error { return t.RefuseReturn(now, actor, in.Note) }, "", nil
	case actHandle:
		detail := ""
		if n := len(in.saved); n > 0 {
			detail = "photos=" + strconv.Itoa(n)
		}
		return func(t *ticketing.Ticket, now time.Time) error {
			return t.ReportHandled(now, actor, in.Result, in.saved...)
		}, detail, nil
	case actExtend:
		until, err := time.ParseInLocation(inputTimeLayout, in.Until, s.cfg.Location)
		if err != nil {
			return nil, "", ticketing.Invalid("until", "must be a date and time like 2006-01-02T15:04")
		}
		return func(t *ticketing.Ticket, now time.Time) error {
			return t.RequestExtension(now, actor, until, in.Reason)
		}, "until=" + until.Format(time.RFC3339), nil
	case actDecideExtension:
		yes, err := in.Approve.value("approve")
		if err != nil {
			return nil, "", err
		}
		return func(t *ticketing.Ticket, now time.Time) error {
			return t.DecideExtension(now, actor, yes, in.Note)
		}, "approve=" + string(in.Approve), nil
	case actVerify:
		pass, err := in.Pass.value("pass")
		if err != nil {
			return nil, "", err
		}
		return func(t *ticketing.Ticket, now time.Time) error {
			return t.Verify(now, actor, pass, in.Note)
		}, "pass=" + string(in.Pass), nil
	case actReportPart:
		dept, detail := st.Department, "department="+st.Department
		if n := len(in.saved); n > 0 {
			detail += " photos=" + strconv.Itoa(n)
		}
		return func(t *ticketing.Ticket, now time.Time) error {
			return t.ReportPart(now, actor, dept, in.Result, in.saved...)
		}, detail, nil
	case actWaivePart:
		return func(t *ticketing.Ticket, now time.Time) error {
			return t.WaivePart(now, actor, in.Department, in.Reason)
		}, "department=" + in.Department, nil
	case actRaise:
		clocks := s.tickets.Clocks()
		return func(t *ticketing.Ticket, now time.Time) error { return t.Raise(now, actor, in.Reason, clocks) }, "", nil
	case actHandDown:
		clocks := s.tickets.Clocks()
		return func(t *ticketing.Ticket, now time.Time) error {
			return t.HandDown(now, actor, in.Centre, in.Note, clocks)
		}, "centre=" + in.Centre, nil
	case actTakeOver:
		clocks, area := s.tickets.Clocks(), st.Area
		return func(t *ticketing.Ticket, now time.Time) error {
			return t.TakeOver(now, actor, area, in.Note, clocks)
		}, "centre=" + area, nil
	case actMerge:
		if in.Master == "" {
			return nil, "", ticketing.Invalid("master", "is required: the number of the ticket to merge into")
		}
		master, err := s.ticketFor(ctx, st, in.Master)
		if err != nil {
			if errors.Is(err, ticketing.ErrNotFound) {
				return nil, "", ticketing.Invalid("master", "no ticket has the number %q", in.Master)
			}
			return nil, "", err
		}
		return func(t *ticketing.Ticket, now time.Time) error {
			return t.MergeInto(now, actor, master)
		}, "master=" + master.Number, nil
	}
	return nil, "", ticketing.Errorf(ticketing.KindNotFound, "action", "no action %q", string(a))
}

// inputTimeLayout is a datetime-local input's value.
const inputTimeLayout = "2006-01-02T15:04"

// maxPhotoBody caps the result form: its fields and MaxResultPhotos
// photos of media.DefaultMaxBytes each.
const maxPhotoBody = ticketing.MaxResultPhotos*media.DefaultMaxBytes + maxBody

// photoMemory is how much of a photo form is held in memory; the rest
// waits in temporary files until the request ends.
const photoMemory = 8 << 20

// photoForm reads a multipart result form (handle), photos and all, under
// maxPhotoBody, so that guard finds its CSRF field already parsed (guard's
// own cap is for text forms). Only a request whose session or bearer token
// holds is read this far; any other goes on to guard as it is.
func (s *Server) photoForm(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if action(r.PathValue("action")) != actHandle || mt != "multipart/form-data" || !s.hasCredentials(w, r) {
			h(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxPhotoBody)
		if err := r.ParseMultipartForm(photoMemory); err != nil {
			if e := httpapi.AsError(err); e.Kind == ticketing.KindTooLarge {
				err = tooManyPhotos()
			} else {
				err = ticketing.Invalid("photos", "the form cannot be read: %v", err)
			}
			s.fail(w, r, err)
			return
		}
		defer func() { _ = r.MultipartForm.RemoveAll() }()
		h(w, r)
	}
}

// hasCredentials looks at a request before reading a large body: a
// bearer token or a session that holds now (one store read), so neither a
// made-up header nor a signed-out copy of a cookie makes the server read
// 50 MB. Only staff may.
func (s *Server) hasCredentials(w http.ResponseWriter, r *http.Request) bool {
	st, err := s.authenticate(w, r)
	return err == nil && st != nil
}

func tooManyPhotos() error {
	return &ticketing.Error{Kind: ticketing.KindTooLarge, Field: "photos", Message: fmt.Sprintf(
		"at most %d photos of %d MB each", ticketing.MaxResultPhotos, media.DefaultMaxBytes>>20)}
}

// savePhotos checks and stores the photos sent with action a. Every photo
// is prepared before any is saved, so one bad photo stores nothing.
func (s *Server) savePhotos(a action, files []*multipart.FileHeader) ([]ticketing.Attachment, error) {
	switch {
	case len(files) == 0:
		return nil, nil
	case a != actHandle && a != actReportPart:
		return nil, ticketing.Invalid("photos", "only a result report (办结反馈, 协办反馈) takes photos")
	case s.cfg.Photos == nil:
		return nil, ticketing.Invalid("photos", "this desk has no photo store; report the result without photos")
	case len(files) > ticketing.MaxResultPhotos:
		return nil, tooManyPhotos()
	}
	prepared := make([]*media.Photo, 0, len(files))
	for _, fh := range files {
		f, err := fh.Open()
		if err != nil {
			return nil, fmt.Errorf("desks: open uploaded photo: %w", err)
		}
		p, err := s.cfg.Photos.Prepare(f)
		_ = f.Close()
		if err != nil {
			return nil, err
		}
		prepared = append(prepared, p)
	}
	saved := make([]ticketing.Attachment, 0, len(prepared))
	for _, p := range prepared {
		att, err := s.cfg.Photos.Save(p)
		if err != nil {
			s.cfg.Photos.Remove(saved)
			return nil, err
		}
		saved = append(saved, att)
	}
	return saved, nil
}

// getPhoto serves one of a ticket's photos to staff who may see the
// ticket. Only ids the ticket holds are opened, so no other file can be
// asked for; nothing is cached outside the browser's memory.
func (s *Server) getPhoto(w http.ResponseWriter, r *http.Request) {
	t, err := s.ticketFor(r.Context(), staffFrom(r.Context()), r.PathValue("number"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	i := slices.IndexFunc(t.Attachments, func(a ticketing.Attachment) bool { return a.ID == id })
	if i < 0 || s.cfg.Photos == nil {
		s.fail(w, r, ticketing.Errorf(ticketing.KindNotFound, "photo", "the ticket has no such photo"))
		return
	}
	// A photo may show people, faces, number plates: each one served is
	// audited like any other view of the citizen's report.
	st := staffFrom(r.Context())
	e := ticketing.ViewAudit(st.Actor, st.Role, "desk-photo", t.Number, nil, clientIP(r), s.cfg.Now())
	e.Detail += " photo=" + id
	if err := s.store.AppendAudit(r.Context(), e); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.cfg.Photos.Open(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	ct := t.Attachments[i].ContentType
	if ct != "image/jpeg" && ct != "image/png" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, f)
}
