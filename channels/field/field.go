// Package field is the grid supervisors' door (网格监督员): the problems
// they find on patrol (主动发现), reported from a phone with a photo, the
// phone's position and a type picked from the catalogue's 部件/事件 tree.
// A report is refused whole, with an error naming the problem, when its
// type does not exist, needs a photo it lacks, or its position lies outside
// the city's grid: a supervisor stands where the problem is, so a report
// that cannot be placed is a broken phone, not a case. A report taken
// waits for the centre of its area to file it (立案) and dispatch it;
// routing only suggests where it goes.
//
//	POST /api/v1/field/reports                  a supervisor's report (bearer token of a supervisor)
//	POST /api/v1/field/positions                where the supervisor on duty is: {"lat","lon"}
//	GET  /api/v1/field/tasks                    the 核实 and 核查 tasks of the supervisor's area
//	POST /api/v1/field/tasks/{number}/take      take one, so the cell's others know it is in hand
//	POST /api/v1/field/tasks/{number}/confirm   核实: {"outcome":"yes"|"no","note"}, photos
//	POST /api/v1/field/tasks/{number}/inspect   核查: {"outcome":"yes"|"no","note"}, photos (one required)
//
// The app's own Idempotency-Key makes a report sent twice (a bad signal,
// a retry after the answer was lost) one ticket.
package field

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/ticketing"
)

// Tickets takes reports (ticketing.Service).
type Tickets interface {
	Submit(ctx context.Context, r ticketing.Report) (*ticketing.Ticket, bool, error)
	SubmitSelfHandled(ctx context.Context, r ticketing.Report, actor, result string, after []ticketing.Attachment) (*ticketing.Ticket, bool, error)
}

// Type is a field report type as this door needs it: its code, its name,
// its class (部件 or 事件 group), whether a report of it must carry a
// photo, and its filing condition (shown to the supervisor).
type Type struct {
	Code, Name, Group string
	Photo             bool
	Filing            string
}

// Types finds the catalogue's field types (the router in force, so a
// reload is followed). An unknown code is a *ticketing.Error of
// KindInvalid naming it.
type Types interface {
	FieldType(code string) (Type, error)
	FieldTypes() []Type
}

// Grid says whether a point lies in one of the city's grid cells, and
// which.
type Grid interface {
	Inside(lat, lon float64) bool
	Place(lat, lon float64) (ticketing.Area, bool)
}

// Photos prepares and keeps uploaded photos (media.Disk).
type Photos interface {
	Prepare(r io.Reader) (*media.Photo, error)
	Save(p *media.Photo) (ticketing.Attachment, error)
	Remove(atts []ticketing.Attachment)
}

// Parts are what the door works with; all are required.
type Parts struct {
	Tickets Tickets
	Cases   Cases
	Queues  Queues
	Tokens  Accounts
	Patrol  Patrol
	Types   Types
	Grid    Grid
	Photos  Photos
	Log     *slog.Logger
	Metrics *httpapi.Metrics // nil: not measured
	Limiter Limiter          // sign-in attempts; nil: only the password-check bound
}

// Config bounds what the door reads.
type Config struct {
	// MaxJSONBytes bounds a JSON report; multipart reports are bounded by
	// the photos they may carry.
	MaxJSONBytes int64
	// Location is the city's time zone: a cell's visits count by its days.
	Location *time.Location
	// BearerTTL is how long a supervisor's token, once checked, is taken
	// on trust by this instance (ticketing.BearerCache): a revoked token or
	// a disabled supervisor is refused within it. Zero checks every request.
	BearerTTL time.Duration
	// AreaLevel is the level of a supervisor's area code (the
	// organisation's), so the task list asks the one column of that
	// level; nil or "" asks all.
	AreaLevel func(code string) ticketing.Level
}

// Server is the field door.
type Server struct {
	cfg Config
	Parts
	page      *template.Template
	dummyHash string        // checked for unknown names at sign-in
	checks    chan struct{} // the password checks running
	// authenticate checks a bearer token: ticketing.Authenticate, or a
	// BearerCache in front of it.
	authenticate func(ctx context.Context, header string) (*ticketing.Bearer, error)
}

// New checks the parts and makes the door.
func New(cfg Config, p Parts) (*Server, error) {
	if p.Tickets == nil || p.Cases == nil || p.Queues == nil || p.Tokens == nil || p.Patrol == nil || p.Types == nil ||
		p.Grid == nil || p.Photos == nil || p.Log == nil {
		return nil, errors.New("field: tickets, cases, queues, tokens, patrol, types, grid, photos and log are required")
	}
	if cfg.MaxJSONBytes <= 0 {
		cfg.MaxJSONBytes = 64 << 10
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	page, err := template.ParseFS(appFS, "app/app.html")
	if err != nil {
		return nil, err
	}
	dummy, err := dummyHash()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, Parts: p, page: page, dummyHash: dummy, checks: make(chan struct{}, maxPasswordChecks)}
	s.authenticate = func(ctx context.Context, header string) (*ticketing.Bearer, error) {
		return ticketing.Authenticate(ctx, p.Tokens, header)
	}
	if cfg.BearerTTL > 0 {
		s.authenticate = ticketing.NewBearerCache(p.Tokens, cfg.BearerTTL, nil).Authenticate
	}
	return s, nil
}

// Register mounts the door's routes.
func (s *Server) Register(r gin.IRouter) {
	s.registerApp(r)
	r.POST("/api/v1/field/login", s.postLogin)
	r.POST("/api/v1/field/reports", s.postReport)
	r.GET("/api/v1/field/tasks", s.getTasks)
	r.POST("/api/v1/field/positions", s.postPosition)
	r.POST("/api/v1/field/tasks/:number/:step", s.postTask)
}

// submitTimeout bounds the write of one report, which runs on past the
// phone leaving (see submit).
const submitTimeout = 15 * time.Second

// postReport is POST /api/v1/field/reports: JSON without photos, or
// multipart/form-data with up to ticketing.MaxAttachments photos.
func (s *Server) postReport(c *gin.Context) {
	b, err := s.supervisor(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	key, err := idempotencyKey(c.GetHeader("Idempotency-Key"))
	if err != nil {
		s.fail(c, err)
		return
	}
	var in input
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	switch mt {
	case "application/json", "":
		in, err = s.readJSON(c)
	case "multipart/form-data":
		in, err = s.readMultipart(c)
	default:
		err = &ticketing.Error{Kind: ticketing.KindUnsupported, Field: "Content-Type", Message: "send application/json or multipart/form-data"}
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	r, err := s.report(in)
	if err != nil {
		s.fail(c, err)
		return
	}
	r.ExternalID, r.By = key, ticketing.SupervisorActor(b.Actor)
	t, created, err := s.submit(c.Request.Context(), r, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, answerOf(t))
}

// supervisor authenticates the bearer token: a supervisor's, of an
// enabled user.
func (s *Server) supervisor(c *gin.Context) (*ticketing.Bearer, error) {
	b, err := s.authenticate(c.Request.Context(), c.GetHeader("Authorization"))
	if err != nil {
		return nil, err
	}
	if b.Role != ticketing.RoleSupervisor || b.User == nil {
		return nil, ticketing.Errorf(ticketing.KindForbidden, "Authorization", "field reports are sent by grid supervisors; this token is a %s's", b.Role)
	}
	return b, nil
}

// report checks what the phone sent against the catalogue and the grid,
// before any photo touches the disk.
func (s *Server) report(in input) (ticketing.Report, error) {
	if in.category == "" {
		return ticketing.Report{}, ticketing.Invalid("category", "is required: the type picked from the catalogue")
	}
	typ, err := s.Types.FieldType(in.category)
	if err != nil {
		return ticketing.Report{}, err
	}
	if in.location == nil {
		return ticketing.Report{}, ticketing.Invalid("lat", "the phone's position (lat and lon) is required")
	}
	if err := in.location.Validate(); err != nil {
		return ticketing.Report{}, err
	}
	if !s.Grid.Inside(in.location.Lat, in.location.Lon) {
		return ticketing.Report{}, ticketing.Invalid("lat", "the position %.6f, %.6f is outside the city's grid", in.location.Lat, in.location.Lon)
	}
	if typ.Photo && len(in.photos) == 0 {
		return ticketing.Report{}, ticketing.Invalid("photos", "a report of type %s (%s) needs a photo", typ.Code, typ.Name)
	}
	switch in.selfHandled {
	case "yes":
		switch {
		case in.result == "":
			return ticketing.Report{}, ticketing.Invalid("result", "a self-handled report says what was done")
		case len(in.photos) == 0:
			return ticketing.Report{}, ticketing.Invalid("photos", "a self-handled report needs a photo from before")
		case len(in.after) == 0:
			return ticketing.Report{}, ticketing.Invalid("after", "a self-handled report needs a photo from after")
		case len(in.after) > ticketing.MaxResultPhotos:
			return ticketing.Report{}, ticketing.Invalid("after", "at most %d photos from after", ticketing.MaxResultPhotos)
		}
	case "", "no":
		if in.result != "" || len(in.after) > 0 {
			return ticketing.Report{}, ticketing.Invalid("self_handled", "a result and photos from after belong to a self-handled report (self_handled=yes)")
		}
	default:
		return ticketing.Report{}, ticketing.Invalid("self_handled", "must be yes or no")
	}
	text := in.text
	if text == "" {
		text = typ.Name // the type says what was found; the text is optional
	}
	r := ticketing.Report{Channel: ticketing.ChannelField, Text: text, Category: typ.Code, Location: in.location, Address: in.address}
	check := r
	check.Normalize()
	check.ReceivedAt = time.Now()
	return r, check.Validate()
}

// submit stores the photos and submits the report. Once the request is
// read, the phone losing its signal must not cut the write in half, so the
// write runs on a context of its own; a replay or a refusal removes the
// photos it saved.
func (s *Server) submit(ctx context.Context, r ticketing.Report, in input) (*ticketing.Ticket, bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), submitTimeout)
	defer cancel()
	saved, err := s.save(append(append([]*media.Photo{}, in.photos...), in.after...))
	if err != nil {
		return nil, false, err
	}
	n := len(in.photos)
	if n > 0 {
		r.Attachments = saved[:n:n]
	}
	after := saved[n:]
	var (
		t       *ticketing.Ticket
		created bool
	)
	if in.selfHandled == "yes" {
		t, created, err = s.Tickets.SubmitSelfHandled(ctx, r, r.By, in.result, after)
	} else {
		t, created, err = s.Tickets.Submit(ctx, r)
	}
	if (err == nil && !created) || ticketing.Refused(err) {
		s.Photos.Remove(saved)
	}
	s.Metrics.Report(r.Channel, created, err)
	return t, created, err
}

func (s *Server) fail(c *gin.Context, err error) {
	e := httpapi.Logged(c.Writer, c.Request, s.Log, err)
	c.AbortWithStatusJSON(httpapi.Status(e.Kind), httpapi.Body(e))
}

// answer is what the phone keeps of a report: the number and where it went.
type answer struct {
	Number         string     `json:"number"`
	Status         string     `json:"status"`
	StatusLabel    string     `json:"status_label"`
	Category       string     `json:"category"`
	CategoryName   string     `json:"category_name,omitempty"`
	Department     string     `json:"department"`
	DepartmentName string     `json:"department_name,omitempty"`
	Grid           string     `json:"grid,omitempty"`
	DueAt          *time.Time `json:"due_at,omitempty"`
	RoutingReason  string     `json:"routing_reason,omitempty"`
}

func answerOf(t *ticketing.Ticket) answer {
	a := answer{Number: t.Number, Status: string(t.Status), StatusLabel: t.Status.Label(), Category: t.Category,
		CategoryName: t.CategoryName, Department: t.Department, DepartmentName: t.DepartmentName, Grid: t.Area.Grid,
		RoutingReason: t.RoutingReason}
	if !t.DueAt.IsZero() {
		d := t.DueAt
		a.DueAt = &d
	}
	return a
}

// save keeps photos, all or none: one that cannot be saved removes those
// saved before it.
func (s *Server) save(photos []*media.Photo) ([]ticketing.Attachment, error) {
	saved := make([]ticketing.Attachment, 0, len(photos))
	for _, p := range photos {
		a, err := s.Photos.Save(p)
		if err != nil {
			s.Photos.Remove(saved)
			return nil, err
		}
		saved = append(saved, a)
	}
	return saved, nil
}

// idempotencyKey checks the app's key: printable ASCII without spaces. A
// report without one is a new report every time.
func idempotencyKey(k string) (string, error) {
	if k == "" {
		return "", nil
	}
	const prefix = "field:"
	if len(prefix)+len(k) > ticketing.MaxExternalIDLen {
		return "", ticketing.Invalid("Idempotency-Key", "must be at most %d characters", ticketing.MaxExternalIDLen-len(prefix))
	}
	for _, r := range k {
		if r < 0x21 || r > 0x7e {
			return "", ticketing.Invalid("Idempotency-Key", "must be printable ASCII without spaces")
		}
	}
	return prefix + k, nil
}

// errorf is a KindInvalid error about the body as a whole.
func errorf(format string, args ...any) error {
	return &ticketing.Error{Kind: ticketing.KindInvalid, Code: "malformed_body", Message: fmt.Sprintf(format, args...)}
}
