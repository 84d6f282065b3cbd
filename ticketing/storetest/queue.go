package storetest

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/yihao-city/yihao/ticketing"
)

// queueTests returns the conformance tests of the work queues.
func queueTests() []storeTest {
	return []storeTest{
		{"QueueFilters", testQueueFilters},
		{"QueueDepartmentIsolation", testQueueDepartmentIsolation},
		{"QueuePagingWhileChanging", testQueuePagingWhileChanging},
		{"QueueLimit", testQueueLimit},
	}
}

// queued is what a queue looks at in a ticket.
type queued struct {
	dept      string
	status    ticketing.Status
	due       time.Time // zero: no deadline
	received  time.Time
	grid      string
	area      ticketing.Area // district and street; grid is the cell
	assisting []string
	extension bool
}

// putTicket stores a ticket in any state directly (no events), as a
// queue finds it.
func putTicket(t *testing.T, s ticketing.Store, q queued) *ticketing.Ticket {
	t.Helper()
	ctx := context.Background()
	id, err := s.NextID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tk := fullTicket(id)
	tk.Area, tk.Assisting, tk.Parts = q.area, q.assisting, nil // no assisting part holds the case up
	tk.Department, tk.Status, tk.DueAt, tk.ReceivedAt, tk.Area.Grid = q.dept, q.status, q.due, q.received, q.grid
	if q.extension {
		tk.Extension = &ticketing.Extension{Until: q.due.Add(24 * time.Hour), Reason: "待协调", RequestedBy: "liaison", RequestedAt: base}
	}
	stored, created, err := s.Create(ctx, tk)
	if err != nil || !created {
		t.Fatalf("Create: created=%v err=%v", created, err)
	}
	return stored
}

// inQueue is the queue's meaning, written plainly: what a store must return.
func inQueue(f ticketing.QueueFilter, tk *ticketing.Ticket) bool {
	switch {
	case f.Department != "" && tk.Department != f.Department && !(f.Assisting && slices.Contains(tk.Assisting, f.Department)),
		len(f.Statuses) == 0 && !tk.Status.Open(),
		len(f.Statuses) > 0 && !slices.Contains(f.Statuses, tk.Status),
		f.Sort != ticketing.SortReceived && tk.DueAt.IsZero(),
		f.Grid != "" && tk.Area.Grid != f.Grid,
		!tk.Area.Within(f.Area),
		!f.DueBefore.IsZero() && (tk.DueAt.IsZero() || !tk.DueAt.Before(f.DueBefore)),
		f.ExtensionPending && tk.Extension == nil:
		return false
	}
	return true
}

// compareCursors orders cursors as a queue's keyset does.
func compareCursors(a, b ticketing.Cursor) int {
	return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID))
}

// wantQueue is the ids of the tickets f selects, in queue order.
func wantQueue(f ticketing.QueueFilter, tks []*ticketing.Ticket) []int64 {
	var in []*ticketing.Ticket
	for _, tk := range tks {
		if inQueue(f, tk) {
			in = append(in, tk)
		}
	}
	slices.SortFunc(in, func(a, b *ticketing.Ticket) int {
		return compareCursors(ticketing.CursorOf(a, f.Sort), ticketing.CursorOf(b, f.Sort))
	})
	ids := []int64{}
	for _, tk := range in {
		ids = append(ids, tk.ID)
	}
	return ids
}

// pageAll reads the whole queue page by page, checking that the keys rise
// strictly and no page is longer than asked.
func pageAll(t *testing.T, s ticketing.Store, f ticketing.QueueFilter) []*ticketing.Ticket {
	t.Helper()
	var all []*ticketing.Ticket
	f.After = nil
	for range 1000 {
		page, err := s.Queue(context.Background(), f)
		if err != nil {
			t.Fatalf("Queue(%+v): %v", f, err)
		}
		if len(page) > f.QueueLimit() {
			t.Fatalf("page of %d tickets, limit %d", len(page), f.QueueLimit())
		}
		for _, tk := range page {
			if f.After != nil && compareCursors(ticketing.CursorOf(tk, f.Sort), *f.After) <= 0 {
				t.Fatalf("ticket %d at %v is not after the cursor %+v", tk.ID, ticketing.CursorOf(tk, f.Sort), *f.After)
			}
			c := ticketing.CursorOf(tk, f.Sort)
			f.After = &c
		}
		all = append(all, page...)
		if len(page) < f.QueueLimit() {
			return all
		}
	}
	t.Fatal("the queue never ends")
	return nil
}

func ids(tks []*ticketing.Ticket) []int64 {
	out := []int64{}
	for _, tk := range tks {
		out = append(out, tk.ID)
	}
	return out
}

// queueFixture stores tickets of two departments and none, in every
// state, with shared deadlines and receipt times (so ids break ties), some
// without a deadline, some with an extension pending.
func queueFixture(t *testing.T, s ticketing.Store) []*ticketing.Ticket {
	t.Helper()
	var tks []*ticketing.Ticket
	for i := range 60 {
		q := queued{
			dept:     []string{"cgw", "swj", ""}[i%3],
			status:   ticketing.Statuses[i%len(ticketing.Statuses)],
			received: base.Add(-time.Duration(i*3%13) * time.Hour),
			grid:     []string{"g1", "g2"}[i%2],
			// Two districts, three streets, and tickets placed nowhere.
			area: []ticketing.Area{{District: "d1", Street: "s1"}, {District: "d1", Street: "s2"},
				{District: "d2", Street: "s3"}, {}, {District: "d1"}}[i%5],
			assisting: [][]string{{"cgw"}, nil, {"swj", "jdb"}, {"jdb"}}[i%4],
		}
		if i%7 != 0 {
			q.due = base.Add(time.Duration(i*5%11) * time.Hour)
			q.extension = i%4 == 1
		}
		tks = append(tks, putTicket(t, s, q))
	}
	return tks
}

func testQueueFilters(t *testing.T, s ticketing.Store) {
	tks := queueFixture(t, s)
	st := func(ss ...ticketing.Status) []ticketing.Status { return ss }
	filters := map[string]ticketing.QueueFilter{
		"every open ticket by deadline":   {},
		"every open ticket by receipt":    {Sort: ticketing.SortReceived},
		"one department's inbox":          {Department: "cgw"},
		"a district centre's":             {Area: "d1"},
		"led or assisted by cgw":          {Department: "cgw", Assisting: true, Statuses: st(ticketing.StatusDispatched, ticketing.StatusAccepted, ticketing.StatusReturned, ticketing.StatusHandled)},
		"led or assisted by swj, by due":  {Department: "swj", Assisting: true},
		"a street centre's":               {Area: "s2", Sort: ticketing.SortReceived},
		"a street's cell":                 {Area: "s1", Grid: "g1"},
		"a cell as the area":              {Area: "g2"},
		"one department by receipt":       {Department: "swj", Sort: ticketing.SortReceived},
		"one state":                       {Statuses: st(ticketing.StatusDispatched)},
		"an open and a finished state":    {Statuses: st(ticketing.StatusClosed, ticketing.StatusAccepted)},
		"triage, states in any order":     {Statuses: st(ticketing.StatusReturned, ticketing.StatusReceived), Sort: ticketing.SortReceived},
		"one grid cell":                   {Grid: "g1"},
		"overdue":                         {DueBefore: base.Add(5 * time.Hour)},
		"extension pending":               {ExtensionPending: true},
		"extension pending by receipt":    {ExtensionPending: true, Sort: ticketing.SortReceived},
		"department, states, grid, due":   {Department: "cgw", Statuses: st(ticketing.StatusDispatched, ticketing.StatusAccepted), Grid: "g2", DueBefore: base.Add(8 * time.Hour)},
		"department and extension":        {Department: "swj", ExtensionPending: true, Sort: ticketing.SortReceived},
		"department and grid by receipt":  {Department: "", Grid: "g2", Sort: ticketing.SortReceived, Statuses: st(ticketing.StatusMerged, ticketing.StatusHandled)},
		"a liaison's inbox":               {Department: "swj", Statuses: st(ticketing.StatusDispatched, ticketing.StatusAccepted, ticketing.StatusReturned, ticketing.StatusHandled)},
		"waiting for a dispatcher":        {Statuses: st(ticketing.StatusReceived, ticketing.StatusRegistered, ticketing.StatusReturned), Sort: ticketing.SortReceived},
		"a sort the store does not know":  {Department: "cgw", Sort: 7},
		"a state the workflow lacks":      {Statuses: st("archived")},
		"a known and an unknown state":    {Statuses: st("archived", ticketing.StatusReturned)},
		"a department with no tickets":    {Department: "nobody"},
		"overdue in one department, cell": {Department: "swj", DueBefore: base.Add(3 * time.Hour), Grid: "g1"},
	}
	for name, f := range filters {
		t.Run(name, func(t *testing.T) {
			want := wantQueue(f, tks)
			for _, limit := range []int{1, 3, 500} {
				f.Limit = limit
				got := pageAll(t, s, f)
				if d := gocmp.Diff(want, ids(got)); d != "" {
					t.Errorf("limit %d (-want +got):\n%s", limit, d)
				}
			}
			if name == "every open ticket by deadline" && len(want) < 10 {
				t.Fatalf("the fixture gives only %d open tickets with a deadline", len(want))
			}
		})
	}
}

// A department's queue never shows another department's ticket, whatever
// else the filter asks.
func testQueueDepartmentIsolation(t *testing.T, s ticketing.Store) {
	queueFixture(t, s)
	for _, dept := range []string{"cgw", "swj"} {
		for _, sort := range []ticketing.QueueSort{ticketing.SortDue, ticketing.SortReceived} {
			statuses := [][]ticketing.Status{nil} // every open state
			for _, st := range ticketing.Statuses {
				statuses = append(statuses, []ticketing.Status{st})
			}
			for _, ss := range statuses {
				for _, ext := range []bool{false, true} {
					f := ticketing.QueueFilter{Department: dept, Statuses: ss, Sort: sort, ExtensionPending: ext, Limit: 2}
					for _, tk := range pageAll(t, s, f) {
						if tk.Department != dept {
							t.Fatalf("%+v showed ticket %d of department %q", f, tk.ID, tk.Department)
						}
					}
				}
			}
		}
	}
}

// Tickets that change while a liaison pages through the inbox are shown
// at most once, and every ticket that stays in the inbox is shown.
func testQueuePagingWhileChanging(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	var tks []*ticketing.Ticket
	for i := range 30 {
		dept := "cgw"
		if i%5 == 4 {
			dept = "swj"
		}
		tks = append(tks, putTicket(t, s, queued{dept: dept, status: ticketing.StatusDispatched,
			due: base.Add(time.Duration(i%6+1) * time.Hour), received: base, grid: "g1"}))
	}
	at := base.Add(time.Minute)
	update := func(id int64, fn func(*ticketing.Ticket) error) {
		t.Helper()
		if _, err := s.Update(ctx, id, fn); err != nil {
			t.Fatalf("Update(%d): %v", id, err)
		}
	}
	accept := func(tk *ticketing.Ticket) error { return tk.Accept(at, "liaison:cgw") }
	closeIt := func(tk *ticketing.Ticket) error {
		if err := tk.Accept(at, "liaison:cgw"); err != nil {
			return err
		}
		if err := tk.ReportHandled(at, "liaison:cgw", "已处理"); err != nil {
			return err
		}
		return tk.Verify(at, "supervisor", true, "")
	}
	touch := func(tk *ticketing.Ticket) error {
		if tk.Status == ticketing.StatusDispatched {
			return accept(tk)
		}
		return tk.AddNote(at, "liaison:cgw", ticketing.EventNote, "已联系市民", "")
	}
	redispatch := func(tk *ticketing.Ticket) error {
		return tk.Dispatch(at, "dispatcher", ticketing.Assignment{Department: "swj", Deadline: base.Add(2 * time.Hour), Reason: "改派"}, "改派")
	}

	f := ticketing.QueueFilter{Department: "cgw", Limit: 4}
	stays := map[int64]bool{} // tickets in the inbox from start to end
	for _, tk := range tks {
		stays[tk.ID] = inQueue(f, tk)
	}
	shown, changed := map[int64]bool{}, map[int64]bool{}
	for page := 0; ; page++ {
		if page == 100 {
			t.Fatal("the inbox never ends")
		}
		got, err := s.Queue(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range got {
			if shown[tk.ID] {
				t.Fatalf("page %d shows ticket %d again", page, tk.ID)
			}
			if f.After != nil && compareCursors(ticketing.CursorOf(tk, f.Sort), *f.After) <= 0 {
				t.Fatalf("page %d: ticket %d is behind the cursor", page, tk.ID)
			}
			if !inQueue(f, tk) {
				t.Fatalf("page %d: ticket %d (%s, %q) is not in the inbox", page, tk.ID, tk.Status, tk.Department)
			}
			shown[tk.ID] = true
		}
		if len(got) < f.Limit {
			break
		}
		c := ticketing.CursorOf(got[len(got)-1], f.Sort)
		f.After = &c
		// Meanwhile: the tickets ahead change.
		var ahead []*ticketing.Ticket
		for _, tk := range tks {
			if stays[tk.ID] && !shown[tk.ID] && !changed[tk.ID] {
				ahead = append(ahead, tk)
			}
		}
		if len(ahead) >= 3 {
			update(ahead[0].ID, accept) // still in the inbox, now accepted
			update(ahead[1].ID, closeIt)
			update(ahead[2].ID, redispatch)
			stays[ahead[1].ID], stays[ahead[2].ID] = false, false
			changed[ahead[0].ID] = true
		}
		update(got[0].ID, touch) // a ticket already shown changes: not shown again
		// A new ticket due before the cursor is behind the reader; one due
		// after every other is ahead and must come.
		putTicket(t, s, queued{dept: "cgw", status: ticketing.StatusDispatched, due: c.At.Add(-time.Minute), received: base})
		late := putTicket(t, s, queued{dept: "cgw", status: ticketing.StatusDispatched, due: base.Add(time.Duration(100+page) * time.Hour), received: base})
		tks = append(tks, late)
		stays[late.ID] = true
	}
	for id, ok := range stays {
		if ok && !shown[id] {
			t.Errorf("ticket %d stayed in the inbox but was never shown", id)
		}
	}
	if len(shown) < 20 {
		t.Errorf("only %d tickets shown", len(shown))
	}
}

func testQueueLimit(t *testing.T, s ticketing.Store) {
	for i := range ticketing.MaxQueueLimit + 1 {
		putTicket(t, s, queued{dept: "cgw", status: ticketing.StatusAccepted, due: base.Add(time.Duration(i) * time.Second), received: base})
	}
	for _, tc := range []struct{ limit, want int }{
		{0, ticketing.DefaultQueueLimit},
		{-5, ticketing.DefaultQueueLimit},
		{1, 1},
		{7, 7},
		{ticketing.MaxQueueLimit, ticketing.MaxQueueLimit},
		{ticketing.MaxQueueLimit + 1, ticketing.MaxQueueLimit},
		{1 << 30, ticketing.MaxQueueLimit},
	} {
		got, err := s.Queue(context.Background(), ticketing.QueueFilter{Department: "cgw", Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Errorf("Limit %d: %d tickets, want %d", tc.limit, len(got), tc.want)
		}
	}
}
