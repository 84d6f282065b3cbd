package webform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/ticketing"
)

func itoa(n int) string { return strconv.Itoa(n) }

// reportRequest is the body of POST /api/v1/reports.
type reportRequest struct {
	Text     string   `json:"text"`
	Category string   `json:"category"`
	Lat      *float64 `json:"lat"`
	Lon      *float64 `json:"lon"`
	Address  string   `json:"address"`
	Contact  *struct {
		Name  string `json:"name"`
		Phone string `json:"phone"`
	} `json:"contact"`
}

// reportResponse answers a report: the number the citizen keeps and where it went.
type reportResponse struct {
	Number         string     `json:"number"`
	Status         string     `json:"status"`
	StatusLabel    string     `json:"status_label"`
	Category       string     `json:"category"`
	CategoryName   string     `json:"category_name,omitempty"`
	Department     string     `json:"department"`
	DepartmentName string     `json:"department_name,omitempty"`
	DueAt          *time.Time `json:"due_at,omitempty"`
	RoutingReason  string     `json:"routing_reason,omitempty"`
	TrackToken     string     `json:"track_token"`
	TrackURL       string     `json:"track_url"`
}

func trackURL(t *ticketing.Ticket) string { return "/t/" + t.Number + "?token=" + t.TrackToken }

func dueAt(t *ticketing.Ticket) *time.Time {
	if t.DueAt.IsZero() {
		return nil
	}
	d := t.DueAt
	return &d
}

// idempotencyKey reads the Idempotency-Key header: printable ASCII, at most
// ticketing.MaxExternalIDLen bytes. Without one every POST is a new report.
func idempotencyKey(c *gin.Context) (string, error) {
	k := strings.TrimSpace(c.GetHeader("Idempotency-Key"))
	if k == "" {
		return "", nil
	}
	if !validKey(k) {
		return "", &ticketing.Error{Kind: ticketing.KindInvalid, Field: "Idempotency-Key",
			Message: "must be 1 to " + itoa(maxKeyLen) + " printable ASCII characters without spaces"}
	}
	return "api:" + k, nil
}

// maxKeyLen leaves room for the "api:"/"form:" prefix in the external id.
const maxKeyLen = ticketing.MaxExternalIDLen - 8

// validKey checks a client's idempotency key: printable ASCII, no spaces.
func validKey(k string) bool {
	if k == "" || len(k) > maxKeyLen {
		return false
	}
	for _, r := range k {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

// postReport is POST /api/v1/reports: JSON, or multipart/form-data with
// the form's fields and up to five photos.
func (s *Server) postReport(c *gin.Context) {
	if err := s.allow(c); err != nil {
		s.fail(c, err)
		return
	}
	key, err := idempotencyKey(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var (
		r      ticketing.Report
		photos []*media.Photo
	)
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	switch mt {
	case "application/json", "":
		r, err = s.decodeJSON(c)
	case "multipart/form-data":
		r, photos, err = s.readMultipart(c)
	default:
		err = &ticketing.Error{Kind: ticketing.KindUnsupported, Field: "Content-Type", Message: "send application/json or multipart/form-data"}
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	r.Channel, r.ExternalID = ticketing.ChannelWeb, key
	t, created, err := s.submit(c.Request.Context(), r, photos)
	if err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.Header("Location", "/api/v1/tickets/"+t.Number)
	c.JSON(status, reportResponse{
		Number: t.Number, Status: string(t.Status), StatusLabel: t.Status.Label(),
		Category: t.Category, CategoryName: t.CategoryName, Department: t.Department, DepartmentName: t.DepartmentName,
		DueAt: dueAt(t), RoutingReason: t.RoutingReason, TrackToken: t.TrackToken, TrackURL: trackURL(t),
	})
}

// decodeJSON reads a report body strictly: unknown fields, trailing data and
// wrong types are errors that name the problem.
func (s *Server) decodeJSON(c *gin.Context) (ticketing.Report, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxJSONBytes))
	if err != nil {
		return ticketing.Report{}, httpapi.AsError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return ticketing.Report{}, &ticketing.Error{Kind: ticketing.KindInvalid, Code: "malformed_json", Message: "the body is empty; send a JSON object"}
	}
	var req reportRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return ticketing.Report{}, jsonError(err)
	}
	if dec.More() {
		return ticketing.Report{}, &ticketing.Error{Kind: ticketing.KindInvalid, Code: "malformed_json", Message: "unexpected data after the JSON object"}
	}
	r := ticketing.Report{Text: req.Text, Category: req.Category, Address: req.Address}
	if req.Contact != nil {
		r.Reporter = ticketing.Contact{Name: req.Contact.Name, Phone: req.Contact.Phone}
	}
	switch {
	case req.Lat != nil && req.Lon != nil:
		r.Location = &ticketing.Point{Lat: *req.Lat, Lon: *req.Lon}
	case req.Lat != nil:
		return r, ticketing.Invalid("lon", "lat and lon go together")
	case req.Lon != nil:
		return r, ticketing.Invalid("lat", "lat and lon go together")
	}
	return r, nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &ticketing.Error{Kind: ticketing.KindInvalid, Code: "malformed_json", Message: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)}
	case errors.As(err, &typ):
		return &ticketing.Error{Kind: ticketing.KindInvalid, Code: "malformed_json", Field: typ.Field, Message: "must be a " + typ.Type.String()}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &ticketing.Error{Kind: ticketing.KindInvalid, Code: "malformed_json", Message: "the JSON ends too early"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &ticketing.Error{Kind: ticketing.KindInvalid, Code: "unknown_field", Field: field, Message: "is not a field of a report"}
	}
	return &ticketing.Error{Kind: ticketing.KindInvalid, Code: "malformed_json", Message: err.Error()}
}

// ticketView is the JSON of GET /api/v1/tickets/{number}. Staff see
// the log and the contact as their role may; the citizen with the tracking token sees no contact details
// and only the public timeline.
type ticketView struct {
	Number         string                `json:"number"`
	Status         string                `json:"status"`
	StatusLabel    string                `json:"status_label"`
	Channel        string                `json:"channel,omitempty"`
	Text           string                `json:"text"`
	Address        string                `json:"address,omitempty"`
	Location       *ticketing.Point      `json:"location,omitempty"`
	Category       string                `json:"category"`
	CategoryName   string                `json:"category_name,omitempty"`
	Department     string                `json:"department"`
	DepartmentName string                `json:"department_name,omitempty"`
	Priority       string                `json:"priority"`
	DueAt          *time.Time            `json:"due_at,omitempty"`
	RoutingReason  string                `json:"routing_reason,omitempty"`
	RoutingRule    string                `json:"routing_rule,omitempty"`
	Photos         int                   `json:"photos"`
	Contact        *contactView          `json:"contact,omitempty"`
	Evaluation     *ticketing.Evaluation `json:"evaluation,omitempty"`
	ReceivedAt     time.Time             `json:"received_at"`
	UpdatedAt      time.Time             `json:"updated_at"`
	Timeline       []eventView           `json:"timeline"`
}

type eventView struct {
	Seq    int       `json:"seq"`
	At     time.Time `json:"at"`
	Type   string    `json:"type"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	Public string    `json:"public,omitempty"`
	Actor  string    `json:"actor,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// getTicket is GET /api/v1/tickets/{number}: ?token= for the citizen, or a
// staff bearer token for the staff view.
func (s *Server) getTicket(c *gin.Context) {
	number := c.Param("number")
	if auth := c.GetHeader("Authorization"); auth != "" {
		s.getStaffTicket(c, number, auth)
		return
	}
	token := c.Query("token")
	if token == "" {
		c.Header("WWW-Authenticate", `Bearer realm="yihao"`)
		s.fail(c, &ticketing.Error{Kind: ticketing.KindUnauthorized, Field: "token", Message: "give the tracking token (?token=) or a staff bearer token"})
		return
	}
	t, evs, err := s.tickets.Track(c.Request.Context(), number, token)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, view(t, evs, false))
}

// getStaffTicket is the staff view under the ticket policy
// (ticketing.Viewer): a ticket the bearer may not see is not found, like
// one that does not exist; integration roles (open311, cti) see no staff
// view at all (403); the reporter's contact is as the role may see it,
// and the view is audited, with the fields shown in full, before it leaves.
func (s *Server) getStaffTicket(c *gin.Context, number, auth string) {
	ctx := c.Request.Context()
	b, err := ticketing.Authenticate(ctx, s.tokens, auth)
	if err != nil {
		if ticketing.KindOf(err) == ticketing.KindUnauthorized {
			c.Header("WWW-Authenticate", `Bearer realm="yihao", error="invalid_token"`)
		}
		s.fail(c, err)
		return
	}
	if !ticketing.StaffRole(b.Role) {
		s.fail(c, &ticketing.Error{Kind: ticketing.KindForbidden, Message: "a " + string(b.Role) + " token cannot read staff views"})
		return
	}
	t, err := s.tickets.Ticket(ctx, number)
	if errors.Is(err, ticketing.ErrNotFound) || (err == nil && !b.Sees(t)) {
		s.fail(c, &ticketing.Error{Kind: ticketing.KindNotFound, Field: "number", Message: "no ticket has this number"})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	evs, err := s.tickets.Events(ctx, t)
	if err != nil {
		s.fail(c, err)
		return
	}
	contact, full := b.ContactFor(t.Reporter)
	e := ticketing.ViewAudit(b.Actor, b.Role, "api", t.Number, full, c.ClientIP(), time.Now())
	if err := s.tokens.AppendAudit(ctx, e); err != nil {
		// Unaudited personal data never leaves.
		s.fail(c, err)
		return
	}
	v := view(t, evs, true)
	v.Contact = &contactView{Name: contact.Name, Phone: contact.Phone, Email: contact.Email, WeChat: t.Reporter.OpenID != ""}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, v)
}

// contactView is the reporter in the staff view: each field as the role
// may see it (ticketing.Viewer.ContactFor); an OpenID only as "wechat".
type contactView struct {
	Name   string `json:"name,omitempty"`
	Phone  string `json:"phone,omitempty"`
	Email  string `json:"email,omitempty"`
	WeChat bool   `json:"wechat,omitempty"`
}

func view(t *ticketing.Ticket, evs []ticketing.Event, staff bool) ticketView {
	v := ticketView{
		Number: t.Number, Status: string(t.Status), StatusLabel: t.Status.Label(), Text: t.Text, Address: t.Address,
		Location: t.Location, Category: t.Category, CategoryName: t.CategoryName, Department: t.Department,
		DepartmentName: t.DepartmentName, Priority: string(t.Priority), DueAt: dueAt(t), RoutingReason: t.RoutingReason,
		Photos: len(t.CitizenPhotos()), Evaluation: t.Evaluation, ReceivedAt: t.ReceivedAt, UpdatedAt: t.UpdatedAt,
		Timeline: make([]eventView, 0, len(evs)),
	}
	if staff {
		v.Channel, v.RoutingRule = string(t.Channel), t.RoutingRule
	}
	for _, e := range evs {
		ev := eventView{Seq: e.Seq, At: e.At, Type: string(e.Type), From: string(e.From), To: string(e.To), Public: e.Public}
		if staff {
			ev.Actor, ev.Note = e.Actor, e.Note
		}
		v.Timeline = append(v.Timeline, ev)
	}
	return v
}
