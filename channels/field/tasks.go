package field

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/ticketing"
)

// Cases are what the task routes read and change (ticketing.Service).
type Cases interface {
	// Clocks give the tasks' times, for their lights.
	Clocks() ticketing.Clocks
	Ticket(ctx context.Context, number string) (*ticketing.Ticket, error)
	Act(ctx context.Context, number string, act func(t *ticketing.Ticket, now time.Time) error) (*ticketing.Ticket, error)
}

// Queues lists the cases with an open task (ticketing.Store.Queue).
type Queues interface {
	Queue(ctx context.Context, f ticketing.QueueFilter) ([]*ticketing.Ticket, error)
}

// taskJSON is one task as the phone shows it: where to go, what was
// reported and by when; never who reported it.
type taskJSON struct {
	Number       string    `json:"number"`
	Task         string    `json:"task"`
	TaskLabel    string    `json:"task_label"`
	DueAt        time.Time `json:"due_at,omitzero"`
	Light        string    `json:"light,omitempty"` // green, yellow (most of the time used) or red (late)
	TakenBy      string    `json:"taken_by,omitempty"`
	Status       string    `json:"status"`
	Category     string    `json:"category,omitempty"`
	CategoryName string    `json:"category_name,omitempty"`
	Text         string    `json:"text"`
	Address      string    `json:"address,omitempty"`
	Lat          *float64  `json:"lat,omitempty"`
	Lon          *float64  `json:"lon,omitempty"`
	Grid         string    `json:"grid"`
	// Result is the department's reported result, for a 核查.
	Result string `json:"result,omitempty"`
}

func (s *Server) taskOf(t *ticketing.Ticket, result string) taskJSON {
	j := taskJSON{Number: t.Number, Task: string(t.Task), TaskLabel: t.Task.Label(), DueAt: t.TaskDue, TakenBy: t.TaskBy,
		Light:  string(t.TaskLight(time.Now(), s.Cases.Clocks())),
		Status: string(t.Status), Category: t.Category, CategoryName: t.CategoryName, Text: t.Text,
		Address: t.Address, Grid: t.Area.Grid, Result: result}
	if t.Location != nil {
		j.Lat, j.Lon = &t.Location.Lat, &t.Location.Lon
	}
	return j
}

// getTasks is GET /api/v1/field/tasks: the open 核实 and 核查 tasks of the
// supervisor's area, nearest deadline first, a page at a time (?after=
// the previous page's next; ?limit= at most ticketing.MaxQueueLimit).
func (s *Server) getTasks(c *gin.Context) {
	b, err := s.supervisor(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	f := ticketing.QueueFilter{Task: true, Sort: ticketing.SortTask, Area: b.Area, Cells: b.Cells,
		Statuses: []ticketing.Status{ticketing.StatusReceived, ticketing.StatusHandled}}
	if s.cfg.AreaLevel != nil && b.Area != "" {
		f.AreaLevel = s.cfg.AreaLevel(b.Area)
	}
	if f.After, err = ticketing.ParseCursor(c.Query("after")); err != nil {
		s.fail(c, err)
		return
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || !ticketing.Decimal(l) || n < 1 || n > ticketing.MaxQueueLimit {
			s.fail(c, ticketing.Invalid("limit", "must be 1 to %d", ticketing.MaxQueueLimit))
			return
		}
		f.Limit = n
	}
	ts, err := s.Queues.Queue(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := struct {
		Tasks []taskJSON `json:"tasks"`
		Next  string     `json:"next,omitempty"`
	}{Tasks: []taskJSON{}}
	for _, t := range ts {
		if !b.Works(t) { // the store's filter, asked again of the one policy
			continue
		}
		out.Tasks = append(out.Tasks, s.taskOf(t, ""))
	}
	if len(ts) == f.QueueLimit() {
		out.Next = ticketing.CursorOf(ts[len(ts)-1], f.Sort).String()
	}
	c.JSON(http.StatusOK, out)
}

// taskStep is what the phone sends to finish a task: yes or no (found,
// or passed), a note and photos of the site.
type taskStep struct {
	outcome, note string
	photos        []*media.Photo
}

// postTask is POST /api/v1/field/tasks/:number/:step — take, confirm or
// inspect — on a task of the supervisor's area. A case outside the area,
// or with no task, is not found, so numbers cannot be probed. confirm and
// inspect take JSON ({"outcome":"yes"|"no","note":…}) or multipart with
// the same fields and up to ticketing.MaxResultPhotos photos.
func (s *Server) postTask(c *gin.Context) {
	b, err := s.supervisor(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	number, step := c.Param("number"), c.Param("step")
	t, err := s.Cases.Ticket(ctx, number)
	if errors.Is(err, ticketing.ErrNotFound) || (err == nil && !b.Works(t)) {
		s.fail(c, ticketing.Errorf(ticketing.KindNotFound, "number", "no task of your area has the number %q", number))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	var in taskStep
	if step != "take" {
		if in, err = s.readStep(c); err != nil {
			s.fail(c, err)
			return
		}
	}
	yes := in.outcome == "yes"
	if step != "take" && in.outcome != "yes" && in.outcome != "no" {
		s.fail(c, ticketing.Invalid("outcome", "must be yes or no"))
		return
	}
	var act func(t *ticketing.Ticket, now time.Time, photos []ticketing.Attachment) error
	switch step {
	case "take":
		act = func(t *ticketing.Ticket, now time.Time, _ []ticketing.Attachment) error {
			return t.TakeTask(now, b.Actor)
		}
	case "confirm":
		act = func(t *ticketing.Ticket, now time.Time, p []ticketing.Attachment) error {
			return t.Confirm(now, b.Actor, yes, in.note, p...)
		}
	case "inspect":
		act = func(t *ticketing.Ticket, now time.Time, p []ticketing.Attachment) error {
			return t.Inspect(now, b.Actor, yes, in.note, p...)
		}
	default:
		s.fail(c, ticketing.Errorf(ticketing.KindNotFound, "step", "no step %q: take, confirm or inspect", step))
		return
	}
	t, err = s.step(ctx, b, number, in.photos, act)
	if errors.Is(err, ticketing.ErrAlreadyApplied) {
		t, err = s.Cases.Ticket(ctx, number)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s.taskOf(t, ""))
}

// step saves the photos and takes act on the case, checking the policy
// again under the case's lock; a refused step removes the photos it saved.
func (s *Server) step(ctx context.Context, b *ticketing.Bearer, number string, photos []*media.Photo,
	act func(*ticketing.Ticket, time.Time, []ticketing.Attachment) error) (*ticketing.Ticket, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), submitTimeout)
	defer cancel()
	saved, err := s.save(photos)
	if err != nil {
		return nil, err
	}
	t, err := s.Cases.Act(ctx, number, func(t *ticketing.Ticket, now time.Time) error {
		if !b.Works(t) {
			return ticketing.Errorf(ticketing.KindConflict, "task", "the task is no longer open")
		}
		return act(t, now, saved)
	})
	if err != nil {
		s.Photos.Remove(saved)
	}
	return t, err
}

// readStep reads a step's body: JSON, or multipart with photos.
func (s *Server) readStep(c *gin.Context) (taskStep, error) {
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	switch mt {
	case "application/json", "":
		var in struct {
			Outcome string `json:"outcome"`
			Note    string `json:"note"`
		}
		if err := s.decodeJSON(c, &in); err != nil {
			return taskStep{}, err
		}
		return taskStep{outcome: strings.TrimSpace(in.Outcome), note: strings.TrimSpace(in.Note)}, nil
	case "multipart/form-data":
		var in taskStep
		err := s.readParts(c, map[string]*string{"outcome": &in.outcome, "note": &in.note},
			map[string]*[]*media.Photo{"photos": &in.photos}, ticketing.MaxResultPhotos)
		return in, err
	}
	return taskStep{}, &ticketing.Error{Kind: ticketing.KindUnsupported, Field: "Content-Type", Message: "send application/json or multipart/form-data"}
}
