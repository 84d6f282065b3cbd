package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"time"

	"github.com/yihao-city/yihao/configs"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/routing/grid"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
)

// genStore is what `yihao gen` writes with: the PostgreSQL store's bulk
// loader. Loading tens of millions of tickets through Submit would take a
// day; COPY takes minutes.
type genStore interface {
	ReserveIDs(ctx context.Context, n int) (first int64, err error)
	CopyTickets(ctx context.Context, ts []*ticketing.Ticket, evs [][]ticketing.Event) error
	AddIndicatorSums(ctx context.Context, sums []postgres.IndicatorSum) error
}

// genConfig holds the flags of `yihao gen`.
type genConfig struct {
	tickets int
	months  int
	seed    uint64
	batch   int
	now     time.Time
}

// runGen runs `yihao gen --tickets N`: fills PostgreSQL with a city's
// worth of history for measuring the desks (BENCHMARKS.md). Each ticket
// walks the real workflow methods from its report to where its age has got
// it (old ones closed and rated, recent ones still with their department),
// so the statuses, deadlines and indicator sums are those the running
// system would have written. Events are kept for open tickets only.
func runGen(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	var g genConfig
	fs := flag.NewFlagSet("yihao gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&g.tickets, "tickets", 100000, "number of tickets to generate")
	fs.IntVar(&g.months, "months", 12, "spread them over this many months up to now")
	fs.Uint64Var(&g.seed, "seed", 1, "random seed (the same seed gives the same city)")
	fs.IntVar(&g.batch, "batch", 50000, "tickets per COPY transaction")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("gen: unexpected arguments %q", fs.Args())
	case g.tickets < 1:
		return errors.New("gen: --tickets must be at least 1")
	case g.months < 1 || g.months > 120:
		return errors.New("gen: --months must be 1 to 120")
	case g.batch < 1:
		return errors.New("gen: --batch must be at least 1")
	case cfg.DatabaseURL == "":
		return errors.New("gen: needs PostgreSQL (database_url or YIHAO_DATABASE_URL); the embedded store is not for tens of millions of tickets")
	}
	g.now = time.Now()
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	bulk, ok := store.(genStore)
	if !ok {
		return errors.New("gen: this store has no bulk loader")
	}
	gen, err := newGenerator(routingFilesOf(cfg), g)
	if err != nil {
		return err
	}
	start := time.Now()
	n, err := gen.run(ctx, bulk, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generated %d tickets in %s\n", n, time.Since(start).Round(time.Second))
	return nil
}

// generator makes tickets that look like a city's: channels, categories,
// places and outcomes in proportions a 12345 centre sees.
type generator struct {
	cfg    genConfig
	router *routing.Router
	cat    *routing.Catalogue
	loc    *time.Location
	leaves []routing.Leaf
	cells  []grid.Cell
	ix     *grid.Index
	rnd    *mrand.Rand
	sums   map[sumKey]int64
}

type sumKey struct {
	day    string
	dim    ticketing.Dim
	key    string
	metric ticketing.Metric
}

func newGenerator(files routingFiles, g genConfig) (*generator, error) {
	router, cat, err := loadRouting(files)
	if err != nil {
		return nil, err
	}
	loc, err := cat.Location()
	if err != nil {
		return nil, err
	}
	b, err := read(files.grid, configs.DemoGrid)
	if err != nil {
		return nil, err
	}
	if files.grid == "off" {
		return nil, errors.New("gen: needs a grid to place tickets on")
	}
	ix, err := grid.Load(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	gen := &generator{cfg: g, router: router, cat: cat, loc: loc, leaves: cat.Leaves(), ix: ix,
		rnd: mrand.New(mrand.NewPCG(g.seed, g.seed^0x9e3779b97f4a7c15)), sums: map[sumKey]int64{}}
	for c := range ix.Cells() {
		if c.Kind == grid.KindUnit {
			gen.cells = append(gen.cells, c)
		}
	}
	if len(gen.leaves) == 0 || len(gen.cells) == 0 {
		return nil, errors.New("gen: the catalogue needs categories and the grid unit cells")
	}
	return gen, nil
}

func (g *generator) run(ctx context.Context, store genStore, stdout io.Writer) (int, error) {
	first, err := store.ReserveIDs(ctx, g.cfg.tickets)
	if err != nil {
		return 0, err
	}
	span := g.cfg.now.Sub(g.cfg.now.AddDate(0, -g.cfg.months, 0))
	done := 0
	for done < g.cfg.tickets {
		n := min(g.cfg.batch, g.cfg.tickets-done)
		ts := make([]*ticketing.Ticket, 0, n)
		evs := make([][]ticketing.Event, 0, n)
		for i := range n {
			// Ids in time order, as the running system hands them out.
			at := g.cfg.now.Add(-span + time.Duration(float64(span)*float64(done+i)/float64(g.cfg.tickets)))
			t, log, err := g.ticket(ctx, first+int64(done+i), at)
			if err != nil {
				return done, err
			}
			g.tally(t, log)
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
func (g *generator) tally(t *ticketing.Ticket, log []ticketing.Event) {
	for _, tl := range ticketing.TalliesOf(t, log) {
		day := tl.At.In(g.loc).Format("2006-01-02")
		for _, d := range ticketing.Dims {
			g.sums[sumKey{day, d, tl.Keys.Key(d), tl.Metric}] += int64(tl.N)
		}
	}
}

var genChannels = []struct {
	ch    ticketing.Channel
	share float64
}{{ticketing.ChannelPhone, 0.70}, {ticketing.ChannelWeChat, 0.15}, {ticketing.ChannelWeb, 0.10}, {ticketing.ChannelOpen311, 0.05}}

// ticket makes one ticket received at at and walks it as far as now.
func (g *generator) ticket(ctx context.Context, id int64, at time.Time) (*ticketing.Ticket, []ticketing.Event, error) {
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
	cell := g.cells[r.IntN(len(g.cells))]
	lat, lon, _ := g.ix.Centroid(cell.Code)
	rep := ticketing.Report{Channel: ch, ExternalID: fmt.Sprintf("gen:%d", id), Category: leaf.Code,
		Text: leaf.Name + "问题，请尽快处理（生成数据）", Location: &ticketing.Point{Lat: lat, Lon: lon}, ReceivedAt: at,
		Reporter: ticketing.Contact{Phone: fmt.Sprintf("+86138%08d", r.IntN(100000000))}}
	a, err := g.router.Route(ctx, rep)
	if err != nil {
		return nil, nil, fmt.Errorf("gen: route %s: %w", leaf.Code, err)
	}
	t := &ticketing.Ticket{ID: id, Number: ticketing.FormatNumber(id, at.In(g.loc)), TrackHash: ticketing.HashToken(fmt.Sprintf("gen%016x", r.Uint64())),
		Channel: ch, ExternalID: rep.ExternalID, Fingerprint: rep.Fingerprint(), Reporter: rep.Reporter, Text: rep.Text,
		Location: rep.Location, Status: ticketing.StatusReceived, Category: a.Category, CategoryName: a.CategoryName,
		Priority: a.Priority, Area: a.Area, ReceivedAt: at, CreatedAt: at, UpdatedAt: at, Version: 1}
	received := ticketing.Event{TicketID: id, Seq: 1, At: at, Actor: ticketing.ActorCitizen, Type: ticketing.EventReceived,
		To: ticketing.StatusReceived, Public: "已受理，工单号" + t.Number}
	g.walk(t, a, at)
	log := append([]ticketing.Event{received}, t.PendingEvents()...)
	for i := range log {
		log[i].TicketID, log[i].Seq = id, i+1
	}
	t.ClearPending()
	return t, log, nil
}

// walk takes the ticket through the workflow, each step only if its time
// has come: a fifth answered on the call, the rest dispatched, accepted,
// handled (mostly in time), verified and rated, with the returns,
// extensions and rework a real centre sees.
func (g *generator) walk(t *ticketing.Ticket, a ticketing.Assignment, at time.Time) {
	r, now := g.rnd, g.cfg.now
	step := func(d time.Duration) bool {
		at = at.Add(d).Truncate(time.Microsecond)
		return at.Before(now)
	}
	if r.Float64() < 0.2 {
		if step(4*time.Minute) && t.ResolveOnContact(at, "agent", "已直接答复") == nil && step(2*time.Hour) && r.Float64() < 0.5 {
			_ = t.Evaluate(at, ticketing.ActorCitizen, g.evaluation()) // the walk ends here either way
		}
		return
	}
	if !step(time.Duration(5+r.IntN(60)) * time.Minute) {
		return
	}
	if t.Register(at, ticketing.ActorRouter, "") != nil {
		return
	}
	a.Deadline = a.Deadline.Add(at.Sub(t.ReceivedAt))
	if !a.Deadline.After(at) {
		a.Deadline = at.Add(72 * time.Hour)
	}
	if t.Dispatch(at, ticketing.ActorRouter, a, "") != nil {
		return
	}
	if r.Float64() < 0.05 { // returned, then re-dispatched to the same department
		if !step(time.Duration(1+r.IntN(6))*time.Hour) || t.Return(at, "liaison", "不属于本单位职责") != nil {
			return
		}
		// The department gets the same time again from the re-dispatch.
		a.Deadline = at.Add(a.Deadline.Sub(t.ReceivedAt))
		if !step(time.Duration(1+r.IntN(3))*time.Hour) || t.Dispatch(at, "dispatcher", a, "退回后改派") != nil {
			return
		}
	}
	if !step(time.Duration(10+r.IntN(240))*time.Minute) || t.Accept(at, "liaison") != nil {
		return
	}
	if r.Float64() < 0.06 && step(time.Duration(1+r.IntN(24))*time.Hour) {
		if t.RequestExtension(at, "liaison", t.DueAt.Add(72*time.Hour), "需协调多部门") != nil ||
			!step(time.Duration(1+r.IntN(8))*time.Hour) ||
			t.DecideExtension(at, "dispatcher", r.Float64() < 0.8, "") != nil {
			return
		}
	}
	// Most results come in time; about one in eight is late.
	left := t.DueAt.Sub(at)
	took := time.Duration(r.Float64() * 0.9 * float64(left))
	if r.Float64() < 0.12 {
		took = left + time.Duration(1+r.IntN(72))*time.Hour
	}
	for round := 0; ; round++ {
		if !step(max(took, time.Minute)) || t.ReportHandled(at, "liaison", "已处置") != nil {
			return
		}
		if !step(time.Duration(1+r.IntN(20)) * time.Hour) {
			return
		}
		if round == 0 && r.Float64() < 0.04 {
			if t.Verify(at, "dispatcher", false, "现场核查未解决") != nil {
				return
			}
			took = time.Duration(1+r.IntN(48)) * time.Hour
			continue
		}
		if t.Verify(at, "dispatcher", true, "") != nil {
			return
		}
		break
	}
	if r.Float64() < 0.6 && step(time.Duration(1+r.IntN(48))*time.Hour) {
		_ = t.Evaluate(at, ticketing.ActorCitizen, g.evaluation()) // the walk ends here either way
	}
}

func (g *generator) evaluation() ticketing.Evaluation {
	x := g.rnd.Float64()
	switch {
	case x < 0.78:
		return ticketing.Evaluation{Satisfaction: ticketing.Satisfied, Solved: true}
	case x < 0.92:
		return ticketing.Evaluation{Satisfaction: ticketing.BasicSatisfied, Solved: true}
	}
	return ticketing.Evaluation{Satisfaction: ticketing.Unsatisfied, Solved: g.rnd.Float64() < 0.3}
}
