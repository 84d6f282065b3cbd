package open311

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yihao-city/yihao/ticketing"
)

// Extended statuses of the mySociety servicerequestupdates extension.
const (
	StatusOpen                      = "OPEN"
	StatusInvestigating             = "INVESTIGATING"
	StatusInProgress                = "IN_PROGRESS"
	StatusActionScheduled           = "ACTION_SCHEDULED"
	StatusInternalReferral          = "INTERNAL_REFERRAL"
	StatusFixed                     = "FIXED"
	StatusClosed                    = "CLOSED"
	StatusNoFurtherAction           = "NO_FURTHER_ACTION"
	StatusNotCouncilsResponsibility = "NOT_COUNCILS_RESPONSIBILITY"
	StatusDuplicate                 = "DUPLICATE"
)

// ExtendedStatus maps the workflow state an event led to onto the
// extension's statuses; GeoReport's open/closed is Status.Open():
//
//	workflow state          open/closed  extended status
//	received, registered    open         OPEN
//	dispatched (派遣)        open         ACTION_SCHEDULED
//	accepted (签收)          open         IN_PROGRESS  (also after rework 返工)
//	returned (退回)          open         INTERNAL_REFERRAL (to be re-dispatched)
//	handled (处置完毕)       open         FIXED (the department's result; verification pending)
//	closed (结案)            closed       CLOSED
//	not_registered (不予立案) closed       NOT_COUNCILS_RESPONSIBILITY
//	resolved_on_contact      closed       NO_FURTHER_ACTION
//	merged (并单)            closed       DUPLICATE
//
// Events that keep the state (notes, extensions, evaluations) carry the
// status of the state they leave the ticket in; a reopened ticket is OPEN.
func ExtendedStatus(st ticketing.Status) string {
	switch st {
	case ticketing.StatusDispatched:
		return StatusActionScheduled
	case ticketing.StatusAccepted:
		return StatusInProgress
	case ticketing.StatusReturned:
		return StatusInternalReferral
	case ticketing.StatusHandled:
		return StatusFixed
	case ticketing.StatusClosed:
		return StatusClosed
	case ticketing.StatusNotRegistered:
		return StatusNotCouncilsResponsibility
	case ticketing.StatusResolvedOnContact:
		return StatusNoFurtherAction
	case ticketing.StatusMerged:
		return StatusDuplicate
	}
	return StatusOpen
}

type updateDoc struct {
	UpdateID    string `xml:"update_id" json:"update_id"`
	RequestID   string `xml:"service_request_id" json:"service_request_id"`
	Status      string `xml:"status" json:"status"`
	Updated     string `xml:"updated_datetime" json:"updated_datetime"`
	Description string `xml:"description" json:"description"`
	MediaURL    string `xml:"media_url" json:"media_url"`
}

type updatesXML struct {
	XMLName xml.Name    `xml:"service_requests_updates"`
	Updates []updateDoc `xml:"request_update"`
}

func updateID(number string, seq int) string { return number + "-" + strconv.Itoa(seq) }

// getUpdates is GET servicerequestupdates: the public events of the window,
// oldest first, at most 1,000. The ticket's own creation and the updates
// Open311 clients posted are left out: clients have those already.
func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, f format, _ map[string]string) error {
	from, to, err := s.window(r)
	if err != nil {
		return err
	}
	evs, err := s.records.EventsBetween(r.Context(), ticketing.EventFilter{From: from, To: to, Channel: s.channel(), PublicOnly: true,
		SkipTypes: []ticketing.EventType{ticketing.EventReceived}, SkipActorPrefix: "open311:", Limit: listLimit})
	if err != nil {
		return err
	}
	docs := make([]updateDoc, 0, len(evs))
	for _, e := range evs {
		docs = append(docs, updateDoc{UpdateID: updateID(e.Number, e.Seq), RequestID: e.Number, Status: ExtendedStatus(e.To),
			Updated: s.when(e.At), Description: e.Public})
	}
	if f == formatJSON {
		s.write(w, f, http.StatusOK, docs)
	} else {
		s.write(w, f, http.StatusOK, updatesXML{Updates: docs})
	}
	return nil
}

type postedUpdate struct {
	UpdateID string `xml:"update_id" json:"update_id"`
}

type postedUpdateXML struct {
	XMLName xml.Name       `xml:"service_request_updates"`
	Updates []postedUpdate `xml:"request_update"`
}

// reopening are the statuses by which a citizen asks for more work.
var reopening = map[string]bool{"OPEN": true, "REOPEN": true, "REOPENED": true, "IN_PROGRESS": true, "INVESTIGATING": true}

// postUpdate is POST servicerequestupdates: a citizen's update from the
// client, recorded on the ticket as a note whose description is public
// (shown on the tracking page). Its status is mapped so:
//
//   - OPEN (or REOPEN, REOPENED, IN_PROGRESS, INVESTIGATING) on a closed
//     ticket whose evaluation was unsatisfied or unsolved reopens it
//     (Ticket.Reopen: back to registered, for a dispatcher), in the same
//     transaction as the note. On any other ticket it is a note only:
//     staff decide.
//   - Every other known status (CLOSED, FIXED, ...) is a note only: the
//     workflow is moved by departments and supervisors, not by clients.
//
// update_id (or update_id_ext), the client's own id of the update, makes
// the call idempotent: the same update_id on the same request answers the
// update recorded the first time.
func (s *Server) postUpdate(w http.ResponseWriter, r *http.Request, f format, _ map[string]string) error {
	tok, err := s.client(r)
	if err != nil {
		return err
	}
	id := param(r, "service_request_id")
	if id == "" {
		return ticketing.Invalid("service_request_id", "is required")
	}
	status := strings.ToUpper(param(r, "status"))
	if status == "" {
		return ticketing.Invalid("status", "is required (OPEN or CLOSED)")
	}
	switch status {
	case StatusOpen, StatusInvestigating, StatusInProgress, StatusActionScheduled, StatusInternalReferral, StatusFixed,
		StatusClosed, StatusNoFurtherAction, StatusNotCouncilsResponsibility, StatusDuplicate, "REOPEN", "REOPENED":
	default:
		return ticketing.Invalid("status", "%s is not a known status", quote(status))
	}
	desc := param(r, "description")
	if desc == "" {
		return ticketing.Invalid("description", "is required")
	}
	if n := utf8.RuneCountInString(desc); n > ticketing.MaxTextRunes {
		return &ticketing.Error{Kind: ticketing.KindTooLarge, Field: "description",
			Message: "is " + itoa(n) + " characters; the limit is " + itoa(ticketing.MaxTextRunes)}
	}
	if hasHTML(desc) {
		return ticketing.Invalid("description", "must be plain text, not HTML")
	}
	if strings.IndexFunc(desc, func(c rune) bool { return c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f }) >= 0 {
		return ticketing.Invalid("description", "must not contain control characters")
	}
	var at time.Time
	if v := param(r, "updated_datetime"); v != "" {
		if at, err = parseTime("updated_datetime", v); err != nil {
			return err
		}
	}
	clientID := param(r, "update_id")
	if clientID == "" {
		clientID = param(r, "update_id_ext")
	}
	if len(clientID) > maxKeyLen || strings.ContainsAny(clientID, "[]\n\r") {
		return ticketing.Invalid("update_id", "must be at most %d characters without brackets", maxKeyLen)
	}
	if m := param(r, "media_url"); m != "" && (!strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") || len(m) > 2000) {
		return ticketing.Invalid("media_url", "must be an http or https URL")
	}

	notFound := &ticketing.Error{Kind: ticketing.KindNotFound, Field: "service_request_id", Message: "no service request " + quote(id)}
	t, err := s.tickets.Ticket(r.Context(), id)
	if errors.Is(err, ticketing.ErrNotFound) || (err == nil && !s.visible(t)) {
		return notFound
	}
	if err != nil {
		return err
	}
	if !owns(tok, t) {
		return &ticketing.Error{Kind: ticketing.KindForbidden, Field: "service_request_id",
			Message: "service request " + quote(id) + " was not submitted with this api_key; only its own client may update it"}
	}
	who := actor(tok)
	marker := ""
	if clientID != "" {
		marker = "[update_id:" + clientID + "]"
		if seq, err := s.findUpdate(r, t, who, marker); err != nil || seq > 0 {
			if err != nil {
				return err
			}
			return s.answerUpdate(w, f, http.StatusOK, updateID(t.Number, seq))
		}
	}
	var note strings.Builder
	note.WriteString("Open311 市民更新，状态 " + status)
	if name := fullName(param(r, "first_name"), param(r, "last_name")); name != "" {
		note.WriteString("，" + name)
	}
	if !at.IsZero() {
		note.WriteString("，客户端时间 " + s.when(at))
	}
	if m := param(r, "media_url"); m != "" {
		note.WriteString("，图片链接 " + m)
	}
	if marker != "" {
		note.WriteString(" " + marker)
	}
	public := "市民补充：" + desc

	if reopening[status] && t.Can(ticketing.ActReopen) {
		_, err = s.tickets.Act(r.Context(), t.Number, func(t *ticketing.Ticket, now time.Time) error {
			if err := t.AddNote(now, who, ticketing.EventNote, note.String(), public); err != nil {
				return err
			}
			return t.Reopen(now, who, "市民通过Open311要求重新办理："+desc)
		})
	} else {
		err = s.tickets.Note(r.Context(), t.Number, who, ticketing.EventNote, note.String(), public)
	}
	if err != nil {
		return err
	}
	seq, err := s.findUpdate(r, t, who, note.String())
	if err != nil {
		return err
	}
	return s.answerUpdate(w, f, http.StatusCreated, updateID(t.Number, seq))
}

// findUpdate finds the last note by who containing text; 0 when none.
func (s *Server) findUpdate(r *http.Request, t *ticketing.Ticket, who, text string) (int, error) {
	evs, err := s.tickets.Events(r.Context(), t)
	if err != nil {
		return 0, err
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if e := evs[i]; e.Actor == who && e.Type == ticketing.EventNote && strings.Contains(e.Note, text) {
			return e.Seq, nil
		}
	}
	return 0, nil
}

func (s *Server) answerUpdate(w http.ResponseWriter, f format, status int, id string) error {
	u := postedUpdate{UpdateID: id}
	if f == formatJSON {
		s.write(w, f, status, []postedUpdate{u})
	} else {
		s.write(w, f, status, postedUpdateXML{Updates: []postedUpdate{u}})
	}
	return nil
}
