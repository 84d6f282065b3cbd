// Package historygen makes a city's history for benchmarks (`yihao gen`):
// tickets that walk the real workflow methods from report to where their
// age has got them, in the proportions a 12345 centre sees, written to
// PostgreSQL in bulk with the indicator sums the running system would
// have kept.
package historygen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/routing/grid"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
)

// Store is what the generator writes with: the PostgreSQL store's bulk
// loader. Loading tens of millions of tickets through Submit would take a
// day; COPY takes minutes.
type Store interface {
	ReserveIDs(ctx context.Context, n int) (first int64, err error)
	CopyTickets(ctx context.Context, ts []*ticketing.Ticket, evs [][]ticketing.Event) error
	AddIndicatorSums(ctx context.Context, sums []postgres.IndicatorSum) error
}

// Config is how much history to make: Tickets over Months up to Now,
// Batch tickets per COPY transaction, the same city for the same Seed.
type Config struct {
	Tickets, Months, Batch int
	Seed                   uint64
	Now                    time.Time
	// Texts are citizens' messages with the category each belongs to:
	// with them, citizens' tickets carry a message routing classifies (the
	// model in service), in the city's own words (CityWords), and where
	// routing's category is wrong a dispatcher dispatches the right one (改派).
	// The last month draws on the odd-numbered texts only, the months
	// before on the even-numbered, so a model trained on the history meets
	// new messages in the month held out. Without them every ticket names
	// its category and carries a stock text.
	Texts []Text
	// Hotspots is how many recurring problems to plant (Planted): extra
	// citizens' reports of one category in one cell, within a day, a week
	// or a month, on top of the tickets asked for.
	Hotspots int
}

// Planted is a hotspot the generator put in the history: Count extra
// reports of Category in Cell received in [From, To).
type Planted struct {
	Category, Cell string
	From, To       time.Time
	Count          int
}

// Text is a citizen's message and its true category.
type Text struct{ Text, Category string }

// Generator makes tickets that look like a city's: channels, categories,
// places and outcomes in proportions a 12345 centre sees.
type Generator struct {
	cfg     Config
	router  *routing.Router
	cat     *routing.Catalogue
	loc     *time.Location
	leaves  []routing.Leaf
	cells   []grid.Cell
	ix      *grid.Index
	rnd     *mrand.Rand
	sums    map[sumKey]int64
	planted []Planted
	busy    []float64 // cumulative shares of the cells' reports
}

// busyCell picks a cell by its share of the reports.
func (g *Generator) busyCell() grid.Cell {
	x := g.rnd.Float64() * g.busy[len(g.busy)-1]
	i, _ := slices.BinarySearch(g.busy, x)
	return g.cells[min(i, len(g.cells)-1)]
}

// hotspotShapes are the recurring problems planted: a burst within a day,
// a run over a week, a slow build over a month (extra reports, and over
// how long they come).
var hotspotShapes = []struct {
	min, max int
	over     [2]time.Duration
}{
	{6, 9, [2]time.Duration{4 * time.Hour, 10 * time.Hour}},
	{7, 12, [2]time.Duration{4 * 24 * time.Hour, 7 * 24 * time.Hour}},
	{12, 20, [2]time.Duration{20 * 24 * time.Hour, 30 * 24 * time.Hour}},
}

// plant writes the configured hotspots' reports (Planted lists them).
func (g *Generator) plant(ctx context.Context, store Store) error {
	if g.cfg.Hotspots <= 0 {
		return nil
	}
	r := g.rnd
	begin := g.cfg.Now.AddDate(0, -g.cfg.Months, 0).Add(30 * 24 * time.Hour) // a month of history first
	type key struct{ c, p string }
	taken := map[key]bool{}
	var pins []pin
	var ats []time.Time
	for len(g.planted) < g.cfg.Hotspots {
		sh := hotspotShapes[len(g.planted)%len(hotspotShapes)]
		p := pin{leaf: g.leaves[r.IntN(len(g.leaves))], cell: g.cells[r.IntN(len(g.cells))]}
		over := sh.over[0] + time.Duration(r.Int64N(int64(sh.over[1]-sh.over[0])))
		span := g.cfg.Now.Add(-over).Sub(begin)
		if taken[key{p.leaf.Code, p.cell.Code}] || span <= 0 {
			continue
		}
		taken[key{p.leaf.Code, p.cell.Code}] = true
		from := begin.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Microsecond)
		n := sh.min + r.IntN(sh.max-sh.min+1)
		g.planted = append(g.planted, Planted{Category: p.leaf.Code, Cell: p.cell.Code, From: from, To: from.Add(over), Count: n})
		for range n {
			pins = append(pins, p)
			ats = append(ats, from.Add(time.Duration(r.Int64N(int64(over)))))
		}
	}
	first, err := store.ReserveIDs(ctx, len(pins))
	if err != nil {
		return err
	}
	ts := make([]*ticketing.Ticket, 0, len(pins))
	evs := make([][]ticketing.Event, 0, len(pins))
	for i := range pins {
		t, log, err := g.ticketAt(ctx, first+int64(i), ats[i], &pins[i])
		if err != nil {
			return err
		}
		g.tally(t, log)
		t.ClearPending()
		if !t.Status.Open() {
			log = nil
		}
		ts, evs = append(ts, t), append(evs, log)
	}
	return store.CopyTickets(ctx, ts, evs)
}

// Planted lists the hotspots Run planted.
func (g *Generator) Planted() []Planted { return g.planted }

type sumKey struct {
	day    string
	dim    ticketing.Dim
	key    string
	metric ticketing.Metric
}

// New makes a generator that places tickets on ix's unit cells and routes
// them with router, as cat describes the city.
func New(router *routing.Router, cat *routing.Catalogue, ix *grid.Index, cfg Config) (*Generator, error) {
	loc, err := cat.Location()
	if err != nil {
		return nil, err
	}
	gen := &Generator{cfg: cfg, router: router, cat: cat, loc: loc, leaves: cat.Leaves(), ix: ix,
		rnd: mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), sums: map[sumKey]int64{}}
	for c := range ix.Cells() {
		if c.Kind == grid.KindUnit {
			gen.cells = append(gen.cells, c)
		}
	}
	if len(gen.leaves) == 0 || len(gen.cells) == 0 {
		return nil, errors.New("gen: the catalogue needs categories and the grid unit cells")
	}
	// Some places are busier than others (a market street, a big estate):
	// each cell's share of the reports is log-normal, a few ten times the
	// quietest, the same for the same seed.
	total := 0.0
	for range gen.cells {
		total += math.Exp(gen.rnd.NormFloat64())
		gen.busy = append(gen.busy, total)
	}
	return gen, nil
}

// Run writes the configured number of tickets to store in batches, with
// their indicator sums, saying how far it got on stdout.
func (g *Generator) Run(ctx context.Context, store Store, stdout io.Writer) (int, error) {
	first, err := store.ReserveIDs(ctx, g.cfg.Tickets)
	if err != nil {
		return 0, err
	}
	span := g.cfg.Now.Sub(g.cfg.Now.AddDate(0, -g.cfg.Months, 0))
	done := 0
	for done < g.cfg.Tickets {
		n := min(g.cfg.Batch, g.cfg.Tickets-done)
		ts := make([]*ticketing.Ticket, 0, n)
		evs := make([][]ticketing.Event, 0, n)
		for i := range n {
			// Ids in time order, as the running system hands them out.
			at := g.cfg.Now.Add(-span + time.Duration(float64(span)*float64(done+i)/float64(g.cfg.Tickets)))
			t, log, err := g.ticket(ctx, first+int64(done+i), at)
			if err != nil {
				return done, err
			}
			g.tally(t, log)
			t.ClearPending() // after the tallies, which count the tasks it finished
			if !t.Status.Open() {
				log = nil // events kept for open tickets only (see runGen)
			}
			ts = append(ts, t)
			evs = append(evs, log)
		}
		if err := store.CopyTickets(ctx, ts, evs); err != nil {
			return done, err
		}
		done += n
		fmt.Fprintf(stdout, "  %d tickets\n", done)
	}
	if err := g.plant(ctx, store); err != nil {
		return done, err
	}
	sums := make([]postgres.IndicatorSum, 0, len(g.sums))
	for k, n := range g.sums {
		sums = append(sums, postgres.IndicatorSum{Day: k.day, Dim: k.dim, Key: k.key, Metric: k.metric, N: n})
	}
	if err := store.AddIndicatorSums(ctx, sums); err != nil {
		return done, err
	}
	return done, nil
}

// tally adds the ticket's tallies to the daily sums exactly as
// RollupIndicators would fold them.
func (g *Generator) tally(t *ticketing.Ticket, log []ticketing.Event) {
	for _, tl := range ticketing.TalliesOf(t, log) {
		day := tl.At.In(g.loc).Format("2006-01-02")
		for _, d := range ticketing.Dims {
			if !tl.Keys.Counts(d) {
				continue
			}
			g.sums[sumKey{day, d, tl.Keys.Key(d), tl.Metric}] += int64(tl.N)
		}
	}
}

// genChannels are where reports come from: mostly the phone, and a
// quarter found by the grid's supervisors on patrol (主动发现).
var genChannels = []struct {
	ch    ticketing.Channel
	share float64
}{{ticketing.ChannelPhone, 0.52}, {ticketing.ChannelField, 0.25}, {ticketing.ChannelWeChat, 0.12},
	{ticketing.ChannelWeb, 0.07}, {ticketing.ChannelOpen311, 0.04}}

// ticket makes one ticket received at at and walks it as far as now.
func (g *Generator) ticket(ctx context.Context, id int64, at time.Time) (*ticketing.Ticket, []ticketing.Event, error) {
	return g.ticketAt(ctx, id, at, nil)
}

// pin fixes a ticket's category and cell (a planted hotspot's).
type pin struct {
	leaf routing.Leaf
	cell grid.Cell
}

// ticketAt is ticket, pinned when p is set: a citizen's report of p's
// category in p's cell.
func (g *Generator) ticketAt(ctx context.Context, id int64, at time.Time, p *pin) (*ticketing.Ticket, []ticketing.Event, error) {
	at = at.Truncate(time.Microsecond)
	r := g.rnd
	ch := genChannels[len(genChannels)-1].ch
	x, acc := r.Float64(), 0.0
	for _, c := range genChannels {
		if acc += c.share; x < acc {
			ch = c.ch
			break
		}
	}
	leaf := g.leaves[r.IntN(len(g.leaves))]
	cell := g.busyCell()
	if p != nil {
		leaf, cell, ch = p.leaf, p.cell, ticketing.ChannelPhone
	}
	lat, lon, _ := g.ix.Centroid(cell.Code)
	rep := ticketing.Report{Channel: ch, ExternalID: fmt.Sprintf("gen:%d", id), Category: leaf.Code,
		Text: leaf.Name + "问题，请尽快处理（生成数据）", Location: &ticketing.Point{Lat: lat, Lon: lon}, ReceivedAt: at,
		Reporter: ticketing.Contact{Phone: fmt.Sprintf("+86138%08d", r.IntN(100000000))}}
	said := ch != ticketing.ChannelField && len(g.cfg.Texts) > 1 && p == nil
	if said {
		m := g.message(at)
		rep.Category, rep.Text = m.Category, m.Text
	}
	actor, foundBy := ticketing.ActorCitizen, ""
	if ch == ticketing.ChannelField {
		// The supervisor of the cell, with the photo every field report has.
		foundBy = g.supervisor(cell)
		actor = ticketing.SupervisorActor(foundBy)
		rep.Reporter, rep.By = ticketing.Contact{}, actor
		rep.Attachments = []ticketing.Attachment{g.photo(id, "")}
	}
	a, err := g.router.Route(ctx, rep)
	if err != nil {
		return nil, nil, fmt.Errorf("gen: route %s: %w", rep.Category, err)
	}
	guess := a // what routing makes of the message, before anyone reads it
	if said {
		said := rep
		said.Category = ""
		if guess, err = g.router.Route(ctx, said); err != nil {
			return nil, nil, fmt.Errorf("gen: route a message: %w", err)
		}
	}
	t := &ticketing.Ticket{ID: id, Number: ticketing.FormatNumber(id, at.In(g.loc)), TrackHash: ticketing.HashToken(fmt.Sprintf("gen%016x", r.Uint64())),
		Channel: ch, ExternalID: rep.ExternalID, Fingerprint: rep.Fingerprint(), Reporter: rep.Reporter, FoundBy: foundBy, Text: rep.Text,
		Location: rep.Location, Status: ticketing.StatusReceived, Category: guess.Category, CategoryName: guess.CategoryName,
		Priority: a.Priority, Area: a.Area, Centre: a.Centre, CentreDue: a.CentreDue, Attachments: rep.Attachments,
		ReceivedAt: at, CreatedAt: at, UpdatedAt: at, Version: 1}
	received := ticketing.Event{TicketID: id, Seq: 1, At: at, Actor: actor, Type: ticketing.EventReceived,
		To: ticketing.StatusReceived, Public: "已受理，工单号" + t.Number}
	g.walk(t, a, guess.Category == a.Category, at)
	log := append([]ticketing.Event{received}, t.PendingEvents()...)
	for i := range log {
		log[i].TicketID, log[i].Seq = id, i+1
	}
	return t, log, nil
}

// walk takes the ticket through the workflow, each step only if its time
// has come: a fifth of the calls answered on the call, a third of the
// supervisors' finds fixed on the spot, the rest filed (after a 核实 on
// site where the category asks for one), dispatched, accepted, handled
// (mostly in time), checked on site (核查) and rated, with the returns,
// extensions and rework a real centre sees. After each step the
// supervisors' tasks are settled as Service.Act settles them.
//
// a is the right assignment; routed says routing got its category right,
// or else a dispatcher files and dispatches the case (改派 from routing's
// category).
func (g *Generator) walk(t *ticketing.Ticket, a ticketing.Assignment, routed bool, at time.Time) {
	r, now, clocks := g.rnd, g.cfg.Now, g.router.Clocks()
	step := func(d time.Duration) bool {
		at = at.Add(d).Truncate(time.Microsecond)
		return at.Before(now)
	}
	do := func(f func() error) bool {
		was := t.Status
		if f() != nil {
			return false
		}
		t.SettleTasks(at, was, clocks)
		return true
	}
	sup := g.supervisorOf(t)
	switch {
	case t.Channel == ticketing.ChannelField && r.Float64() < 0.3:
		_ = t.SelfHandle(at, sup, "已现场处置", g.photo(t.ID, "after")) // 自处置: closed at once
		return
	case t.Channel == ticketing.ChannelField:
		// The centre files what its supervisors found (立案).
		if !step(time.Duration(5+r.IntN(90))*time.Minute) || !do(func() error { return t.Register(at, "dispatcher", "") }) {
			return
		}
	case a.Confirm:
		t.AwaitConfirm(at, clocks)
		// Most checks within the two hours, some late, one in eight finds nothing.
		if !step(time.Duration(10+r.IntN(150))*time.Minute) ||
			!do(func() error { return t.Confirm(at, sup, r.Float64() < 0.88, "现场未见", g.photo(t.ID, "site")) }) ||
			t.Status != ticketing.StatusRegistered {
			return
		}
	case r.Float64() < 0.2:
		if step(4*time.Minute) && t.ResolveOnContact(at, "agent", "已直接答复") == nil && step(2*time.Hour) && r.Float64() < 0.5 {
			_ = t.Evaluate(at, ticketing.ActorCitizen, g.evaluation()) // the walk ends here either way
		}
		return
	default:
		if !step(time.Duration(5+r.IntN(60))*time.Minute) || !do(func() error { return t.Register(at, ticketing.ActorRouter, "") }) {
			return
		}
	}
	a.Deadline = a.Deadline.Add(at.Sub(t.ReceivedAt))
	if !a.Deadline.After(at) {
		a.Deadline = at.Add(72 * time.Hour)
	}
	dispatcher := ticketing.ActorRouter
	if !routed {
		dispatcher = "dispatcher"
	}
	if !do(func() error { return t.Dispatch(at, dispatcher, a, "") }) {
		return
	}
	if r.Float64() < 0.05 { // returned, then re-dispatched to the same department
		if !step(time.Duration(1+r.IntN(6))*time.Hour) || !do(func() error { return t.Return(at, "liaison", "不属于本单位职责") }) {
			return
		}
		// The department gets the same time again from the re-dispatch.
		a.Deadline = at.Add(a.Deadline.Sub(t.ReceivedAt))
		if !step(time.Duration(1+r.IntN(3))*time.Hour) || !do(func() error { return t.Dispatch(at, "dispatcher", a, "退回后改派") }) {
			return
		}
	}
	if !step(time.Duration(10+r.IntN(240))*time.Minute) || !do(func() error { return t.Accept(at, "liaison") }) {
		return
	}
	if r.Float64() < 0.06 && step(time.Duration(1+r.IntN(24))*time.Hour) {
		if !do(func() error {
			return t.RequestExtension(at, "liaison", t.DueAt.Add(72*time.Hour), "需协调多部门")
		}) ||
			!step(time.Duration(1+r.IntN(8))*time.Hour) ||
			!do(func() error { return t.DecideExtension(at, "dispatcher", r.Float64() < 0.8, "") }) {
			return
		}
	}
	// Most results come in time; about one in eight is late.
	left := t.DueAt.Sub(at)
	took := time.Duration(r.Float64() * 0.9 * float64(left))
	if r.Float64() < 0.12 {
		took = left + time.Duration(1+r.IntN(72))*time.Hour
	}
	// The assisting departments report their parts (联动) before the lead.
	for _, d := range t.Pending() {
		if !step(time.Duration(10+r.IntN(120))*time.Minute) || !do(func() error { return t.ReportPart(at, "liaison:"+d, d, "已配合处置") }) {
			return
		}
	}
	for round := 0; ; round++ {
		if !step(max(took, time.Minute)) || !do(func() error { return t.ReportHandled(at, "liaison", "已处置") }) {
			return
		}
		pass, note := !(round == 0 && r.Float64() < 0.04), "现场核查未解决"
		if t.Task == ticketing.TaskInspect {
			// The cell's supervisor checks on site (核查), mostly within the day.
			if !step(time.Duration(1+r.IntN(30))*time.Hour) ||
				!do(func() error { return t.Inspect(at, sup, pass, note, g.photo(t.ID, "inspect")) }) {
				return
			}
		} else if !step(time.Duration(1+r.IntN(20))*time.Hour) || !do(func() error { return t.Verify(at, "dispatcher", pass, note) }) {
			return
		}
		if !pass {
			took = time.Duration(1+r.IntN(48)) * time.Hour
			continue
		}
		break
	}
	if r.Float64() < 0.6 && step(time.Duration(1+r.IntN(48))*time.Hour) {
		_ = t.Evaluate(at, ticketing.ActorCitizen, g.evaluation()) // the walk ends here either way
	}
}

// supervisor is one of the three supervisors of cell's community, the
// same for the same cell.
func (g *Generator) supervisor(c grid.Cell) string {
	n := 0
	for _, b := range []byte(c.Code) {
		n = n*31 + int(b)
	}
	return fmt.Sprintf("sup.%s.%d", c.Community, (n&0x7fffffff)%3)
}

// supervisorOf is the supervisor who works t's cell.
func (g *Generator) supervisorOf(t *ticketing.Ticket) string {
	return g.supervisor(grid.Cell{Code: t.Area.Grid, Community: t.Area.Community})
}

// photo is a stored photo's record (the history holds no image bytes).
func (g *Generator) photo(id int64, kind string) ticketing.Attachment {
	return ticketing.Attachment{ID: fmt.Sprintf("gen/%d-%s.jpg", id, kind), ContentType: "image/jpeg", Size: 48000,
		SHA256: fmt.Sprintf("%064x", g.rnd.Uint64())}
}

func (g *Generator) evaluation() ticketing.Evaluation {
	x := g.rnd.Float64()
	switch {
	case x < 0.78:
		return ticketing.Evaluation{Satisfaction: ticketing.Satisfied, Solved: true}
	case x < 0.92:
		return ticketing.Evaluation{Satisfaction: ticketing.BasicSatisfied, Solved: true}
	}
	return ticketing.Evaluation{Satisfaction: ticketing.Unsatisfied, Solved: g.rnd.Float64() < 0.3}
}

// message is a citizen's message for a ticket received at at: from the
// odd-numbered texts in the last month, the even-numbered before, in the
// city's words, sometimes with the place said first.
func (g *Generator) message(at time.Time) Text {
	r, n := g.rnd, len(g.cfg.Texts)
	i := 2 * r.IntN((n+1)/2)
	if at.After(g.cfg.Now.AddDate(0, -1, 0)) {
		i = 2*r.IntN(n/2) + 1
	}
	m := g.cfg.Texts[i]
	m.Text = CityWords.Replace(m.Text)
	if r.IntN(3) == 0 {
		m.Text = cityPlaces[r.IntN(len(cityPlaces))] + m.Text
	}
	return m
}

// cityPlaces are how the generated city's citizens begin a message.
var cityPlaces = []string{"【东城区】", "【西城区】", "安定门这边，", "和平里小区，", "鼓楼东大街，", "交道口附近，", "我住北新桥，"}

// CityWords is how the generated city says what the shipped model learned
// in other words: its own names for manholes, street lights, rubbish,
// heating and the rest. A model trained elsewhere misses some of them
// (dispatchers correct its routes); one trained on the city's own tickets
// learns them.
var CityWords = strings.NewReplacer(
	"井盖", "盖板", "下水道", "阴沟", "窨井", "窖井", "路灯", "街灯", "晃眼", "刺眼睛",
	"垃圾", "脏土", "烂菜", "菜帮子", "摆摊", "出摊子", "地摊", "摊子", "小轿车", "小车",
	"施工", "干活", "扰民", "吵人", "路面", "马路面子", "凹坑", "坑洼", "商家", "卖家",
	"保质期", "日子", "学校", "学堂", "废水", "脏水", "医生", "大夫", "工资", "工钱",
	"包工头", "工头", "监控", "摄像头", "公交", "大巴", "暖气", "气片", "热力公司", "热力站",
	"物业", "物管", "楼道灯", "楼梯灯")
