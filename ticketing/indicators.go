package ticketing

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Metric is one count the indicators are made of. Each is counted on the
// day (in the city's time zone) the event that makes it happened.
type Metric string

const (
	MetricReceived      Metric = "received"        // 受理数: every report taken
	MetricRegistered    Metric = "registered"      // 立案数
	MetricDeclined      Metric = "declined"        // 不予立案数
	MetricAnswered      Metric = "answered"        // 直办数: answered on contact
	MetricDispatched    Metric = "dispatched"      // 派遣数: first dispatches (= 应结案数, 应处置数)
	MetricRedispatched  Metric = "redispatched"    // 改派数: dispatched again after a return or a re-dispatch
	MetricRerouted      Metric = "rerouted"        // 改判数: dispatches where a person changed the category or department routing gave
	MetricAccepted      Metric = "accepted"        // 签收数
	MetricReturned      Metric = "returned"        // 退单数
	MetricHandled       Metric = "handled"         // 处置数: results reported (rework counts again)
	MetricHandledOnTime Metric = "handled_on_time" // 按期处置数: reported by the deadline in force
	MetricClosed        Metric = "closed"          // 结案数
	MetricClosedOnTime  Metric = "closed_on_time"  // 按期结案数: closed by the deadline in force
	MetricRework        Metric = "rework"          // 返工数
	MetricExtended      Metric = "extended"        // 延期数: extensions approved
	MetricEvaluated     Metric = "evaluated"       // 评价数
	MetricSatisfied     Metric = "satisfied"       // 满意数: satisfied or basically satisfied
	MetricSolved        Metric = "solved"          // 解决数: the citizen says it is solved
	MetricMerged        Metric = "merged"          // 并单数
	MetricReopened      Metric = "reopened"        // 重办数
	MetricOverdue       Metric = "overdue"         // 超期数: red lights (Ticket.Escalate)
	MetricSelfHandled   Metric = "self_handled"    // 自处置数: fixed on the spot by a supervisor
	// The grid's own (GB/T 30428.4 in spirit).
	MetricFound           Metric = "found"             // 主动发现数: filed cases a supervisor reported
	MetricMissed          Metric = "missed"            // 漏报数: citizens' reports found real on site, which the cell's supervisors had not reported
	MetricConfirmed       Metric = "confirmed"         // 核实数
	MetricConfirmedOnTime Metric = "confirmed_on_time" // 按时核实数
	MetricInspected       Metric = "inspected"         // 核查数
	MetricInspectedOnTime Metric = "inspected_on_time" // 按时核查数
	MetricCentreOverdue   Metric = "centre_overdue"    // 中心超时数: a centre's own time ran out (Ticket.Escalate)
	MetricTaskOverdue     Metric = "task_overdue"      // 任务超时数: a 核实 or 核查 ran out
	MetricReported        Metric = "reported"          // 上报数: reports supervisors made (filed, self-handled or declined)
	// The knowledge base's.
	MetricKBAnswered Metric = "kb_answered" // 知识库直办数: answered on contact with an article
	MetricKBTicketed Metric = "kb_ticketed" // 看过知识库仍立单数: a ticket asked for after an article was shown
)

// Metrics lists every metric.
var Metrics = []Metric{MetricReceived, MetricRegistered, MetricDeclined, MetricAnswered, MetricDispatched,
	MetricRedispatched, MetricAccepted, MetricReturned, MetricHandled, MetricHandledOnTime, MetricClosed,
	MetricClosedOnTime, MetricRework, MetricExtended, MetricEvaluated, MetricSatisfied, MetricSolved,
	MetricMerged, MetricReopened, MetricOverdue, MetricSelfHandled, MetricFound, MetricMissed, MetricConfirmed,
	MetricConfirmedOnTime, MetricInspected, MetricInspectedOnTime, MetricCentreOverdue, MetricTaskOverdue, MetricReported,
	MetricKBAnswered, MetricKBTicketed, MetricRerouted}

// Dim is what indicators are broken down by.
type Dim string

const (
	DimAll        Dim = "all" // the whole city; the key is empty
	DimDepartment Dim = "department"
	DimDistrict   Dim = "district"
	DimStreet     Dim = "street"
	DimCommunity  Dim = "community"
	DimGrid       Dim = "grid"
	// DimSupervisor is the grid supervisor a count is theirs: the reports
	// they made and how those fared, and the tasks they did. Counts of no
	// supervisor (a citizen's case) are left out of it.
	DimSupervisor Dim = "supervisor"
	// DimArticle is the knowledge-base article a count is of (Ticket.Article):
	// the calls it answered and the tickets asked for after it was shown.
	DimArticle  Dim = "article"
	DimCategory Dim = "category"
	DimChannel  Dim = "channel"
)

// Dims lists every breakdown a tally is summed into.
var Dims = []Dim{DimAll, DimDepartment, DimDistrict, DimStreet, DimCommunity, DimGrid, DimSupervisor, DimArticle, DimCategory, DimChannel}

// TallyKeys are the ticket's place in each breakdown when the event happened.
type TallyKeys struct {
	Department, District, Street, Community, Grid, Category string
	Channel                                                 Channel
	// Supervisor is the user name of the supervisor the count is theirs
	// (the finder of a field report, the doer of a task); empty for none.
	Supervisor string
	Article    string // the article's id, or empty
}

// Key is the key of dim (empty for DimAll).
func (k TallyKeys) Key(d Dim) string {
	switch d {
	case DimDepartment:
		return k.Department
	case DimDistrict:
		return k.District
	case DimStreet:
		return k.Street
	case DimCommunity:
		return k.Community
	case DimGrid:
		return k.Grid
	case DimSupervisor:
		return k.Supervisor
	case DimArticle:
		return k.Article
	case DimCategory:
		return k.Category
	case DimChannel:
		return string(k.Channel)
	}
	return ""
}

// SparseDims are the breakdowns that leave out counts of none (a
// citizen's case has no supervisor, most reports no article): their rows
// are only the keys that are set.
var SparseDims = []Dim{DimSupervisor, DimArticle}

// Counts reports whether a tally with keys k is summed into d: into every
// breakdown, but into one of SparseDims only when its key is set.
func (k TallyKeys) Counts(d Dim) bool { return k.Key(d) != "" || !slices.Contains(SparseDims, d) }

// Tally is one count to add: a metric, when, and where in the breakdowns.
// Stores write tallies in the same transaction as the events that cause
// them (append-only, so busy tickets never wait on one counter row) and
// later fold them into daily sums (RollupIndicators), which is what the
// indicator pages read: tens of millions of tickets cost nothing to report
// on, because nothing is scanned.
type Tally struct {
	At     time.Time
	Metric Metric
	Keys   TallyKeys
	N      int
}

// SumKey is one row of the daily or the monthly sums: a breakdown, its
// key, a metric, and the period's first day (2006-01-02).
type SumKey struct {
	Dim    Dim
	Period string
	Key    string
	Metric Metric
}

// Sums are tallies folded into the daily and the monthly sums of every
// breakdown they count in: what a store's RollupIndicators adds to its
// tables. Folding happens in the service's process, not the database's:
// a tally fans out into ten breakdowns and two periods, which is map work
// in Go and a tenth of a millisecond a ticket of PostgreSQL's CPU.
type Sums struct {
	Days, Months map[SumKey]int64
}

// NewSums returns empty sums.
func NewSums() Sums { return Sums{Days: map[SumKey]int64{}, Months: map[SumKey]int64{}} }

// Add folds one tally in, its day taken in loc.
func (s Sums) Add(x Tally, loc *time.Location) {
	day := x.At.In(loc).Format(time.DateOnly)
	month := day[:len("2006-01-")] + "01"
	for _, d := range Dims {
		if !x.Keys.Counts(d) {
			continue
		}
		k := x.Keys.Key(d)
		s.Days[SumKey{d, day, k, x.Metric}] += int64(x.N)
		s.Months[SumKey{d, month, k, x.Metric}] += int64(x.N)
	}
}

// Sorted returns sums' keys in one order (breakdown, period, key,
// metric), the order every rollup adds them in: concurrent rollups then
// lock the rows they share in the same order and never deadlock.
func Sorted(sums map[SumKey]int64) []SumKey {
	keys := slices.Collect(maps.Keys(sums))
	slices.SortFunc(keys, func(a, b SumKey) int {
		return cmp.Or(cmp.Compare(a.Dim, b.Dim), cmp.Compare(a.Period, b.Period), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Metric, b.Metric))
	})
	return keys
}

// TalliesOf returns the tallies of events, which were just applied to t
// (t is the ticket after them): what Create and Update write with them.
func TalliesOf(t *Ticket, evs []Event) []Tally {
	keys := TallyKeys{Department: t.Department, District: t.Area.District, Street: t.Area.Street,
		Community: t.Area.Community, Grid: t.Area.Grid, Category: t.Category, Channel: t.Channel,
		Supervisor: t.FoundBy}
	if t.Article != 0 {
		keys.Article = strconv.FormatInt(t.Article, 10)
	}
	var out []Tally
	add := func(e Event, m Metric) { out = append(out, Tally{At: e.At, Metric: m, Keys: keys, N: 1}) }
	for _, e := range evs {
		switch e.Type {
		case EventReceived:
			add(e, MetricReceived)
			if t.Channel == ChannelField {
				add(e, MetricReported)
			}
			if t.Article != 0 && t.Status != StatusResolvedOnContact {
				add(e, MetricKBTicketed)
			}
		case EventRegistered:
			add(e, MetricRegistered)
			if t.Channel == ChannelField {
				add(e, MetricFound)
			}
		case EventConfirmed: // a citizen's report found real on site is filed
			add(e, MetricRegistered)
			add(e, MetricMissed)
		case EventDeclined:
			add(e, MetricDeclined)
		case EventResolvedOnContact:
			add(e, MetricAnswered)
			if t.Article != 0 {
				add(e, MetricKBAnswered)
			}
		case EventSelfHandled:
			add(e, MetricSelfHandled)
		case EventDispatched:
			if e.From == StatusRegistered || e.From == StatusReceived {
				add(e, MetricDispatched)
			} else {
				add(e, MetricRedispatched)
			}
		case EventRerouted:
			add(e, MetricRerouted)
		case EventAccepted:
			add(e, MetricAccepted)
		case EventReturned:
			add(e, MetricReturned)
		case EventHandled:
			add(e, MetricHandled)
			if !t.DueAt.IsZero() && !e.At.After(t.DueAt) {
				add(e, MetricHandledOnTime)
			}
		case EventClosed:
			add(e, MetricClosed)
			if !t.DueAt.IsZero() && !e.At.After(t.DueAt) {
				add(e, MetricClosedOnTime)
			}
		case EventRework:
			add(e, MetricRework)
		case EventExtensionApproved:
			add(e, MetricExtended)
		case EventEvaluated:
			add(e, MetricEvaluated)
			if t.Evaluation != nil {
				if t.Evaluation.Satisfaction == Satisfied || t.Evaluation.Satisfaction == BasicSatisfied {
					add(e, MetricSatisfied)
				}
				if t.Evaluation.Solved {
					add(e, MetricSolved)
				}
			}
		case EventMerged:
			add(e, MetricMerged)
		case EventReopened:
			add(e, MetricReopened)
		case EventDeadlineRed:
			add(e, MetricOverdue)
		case EventCentreOverdue:
			add(e, MetricCentreOverdue)
		case EventTaskOverdue: // the supervisor who took the task, if one did
			k := keys
			k.Supervisor = t.TaskBy
			out = append(out, Tally{At: e.At, Metric: MetricTaskOverdue, Keys: k, N: 1})
		}
	}
	if len(evs) > 0 {
		for _, d := range t.done {
			done, onTime := MetricConfirmed, MetricConfirmedOnTime
			if d.kind == TaskInspect {
				done, onTime = MetricInspected, MetricInspectedOnTime
			}
			k := keys
			k.Supervisor = d.by
			out = append(out, Tally{At: d.at, Metric: done, Keys: k, N: 1})
			if d.due.IsZero() || !d.at.After(d.due) {
				out = append(out, Tally{At: d.at, Metric: onTime, Keys: k, N: 1})
			}
		}
	}
	return out
}

// IndicatorQuery selects daily sums for a period.
type IndicatorQuery struct {
	Dim Dim
	// From and To are civil dates in the city's time zone, "2006-01-02";
	// the period is [From, To).
	From, To string
	Keys     []string // only these keys of Dim; empty means all
	Metrics  []Metric // only these metrics; empty means all (a map needs one)
	ByDay    bool     // one row per day (charts); else summed over the period
}

// Validate checks q before a store runs it: a breakdown of Dims and a
// period of whole days, From before To.
func (q IndicatorQuery) Validate() error {
	if !slices.Contains(Dims, q.Dim) {
		return Invalid("dim", "must be one of %v", Dims)
	}
	from, err := time.Parse(time.DateOnly, q.From)
	if err != nil {
		return Invalid("from", "must be a date like 2006-01-02")
	}
	to, err := time.Parse(time.DateOnly, q.To)
	if err != nil {
		return Invalid("to", "must be a date like 2006-01-02")
	}
	if !from.Before(to) {
		return Invalid("to", "must be after from (the period is [from, to))")
	}
	for _, m := range q.Metrics {
		if !slices.Contains(Metrics, m) {
			return Invalid("metrics", "unknown metric %q", m)
		}
	}
	return nil
}

// IndicatorCount is one sum: a metric for one key of the breakdown, on one
// day (ByDay) or over the period (Day empty).
type IndicatorCount struct {
	Day    string
	Key    string
	Metric Metric
	N      int64
}

// IndicatorStore keeps the indicator sums. Every Store in this module
// implements it; all methods are safe for several instances on one
// database.
type IndicatorStore interface {
	// RollupIndicators folds tallies written since the last rollup into the
	// daily sums, days taken in loc; it returns how many it folded. Any
	// instance may run it at any time; each tally is counted once.
	RollupIndicators(ctx context.Context, loc *time.Location) (int, error)
	// Indicators returns the daily sums q selects (rolled up ones only),
	// by day, key and metric; a q that fails Validate is KindInvalid.
	Indicators(ctx context.Context, q IndicatorQuery) ([]IndicatorCount, error)
}

// Figures are the metrics of one key over a period.
type Figures map[Metric]int64

// Rate is one published indicator: numerator over denominator.
type Rate struct {
	Code  string // "registration_rate", ...
	Label string // 立案率, ...
	Num   int64
	Den   int64
}

// Value is the rate as a fraction; 0 when nothing was counted.
func (r Rate) Value() float64 {
	if r.Den == 0 {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

// Rates are the published indicators from f. The formulas (also in the
// README's indicators section):
//
//	立案率     registered / received
//	派遣率     dispatched / registered
//	按期处置率 handled_on_time / handled
//	结案率     closed / dispatched          (应结案数 = first dispatches)
//	按期结案率 closed_on_time / dispatched
//	返工率     rework / dispatched
//	延期率     extended / dispatched
//	响应率     accepted / (dispatched + redispatched)
//	解决率     solved / evaluated
//	满意率     satisfied / evaluated      (satisfied or basically satisfied)
//	超期率     overdue / dispatched       (red lights)
//	主动发现率 found / registered         (filed cases supervisors reported)
//	漏报率     missed / registered
//	按时核实率 confirmed_on_time / confirmed
//	按时核查率 inspected_on_time / inspected
//	有效上报率 (found + self_handled) / reported
//	直办率     answered / received          (answered on contact)
//	知识库解答率 kb_answered / answered      (of those, with an article)
//	改派率     rerouted / dispatched        (routing's category or department changed by a person)
//
// Every count is of events on the days of the period, so a rate over a
// short period can pass 100% (tickets dispatched last month closed this one).
func (f Figures) Rates() []Rate {
	return []Rate{
		{"registration_rate", "立案率", f[MetricRegistered], f[MetricReceived]},
		{"dispatch_rate", "派遣率", f[MetricDispatched], f[MetricRegistered]},
		{"on_time_handling_rate", "按期处置率", f[MetricHandledOnTime], f[MetricHandled]},
		{"closure_rate", "结案率", f[MetricClosed], f[MetricDispatched]},
		{"on_time_closure_rate", "按期结案率", f[MetricClosedOnTime], f[MetricDispatched]},
		{"rework_rate", "返工率", f[MetricRework], f[MetricDispatched]},
		{"extension_rate", "延期率", f[MetricExtended], f[MetricDispatched]},
		{"response_rate", "响应率", f[MetricAccepted], f[MetricDispatched] + f[MetricRedispatched]},
		{"solution_rate", "解决率", f[MetricSolved], f[MetricEvaluated]},
		{"satisfaction_rate", "满意率", f[MetricSatisfied], f[MetricEvaluated]},
		{"overdue_rate", "超期率", f[MetricOverdue], f[MetricDispatched]},
		{"found_rate", "主动发现率", f[MetricFound], f[MetricRegistered]},
		{"missed_rate", "漏报率", f[MetricMissed], f[MetricRegistered]},
		{"on_time_confirm_rate", "按时核实率", f[MetricConfirmedOnTime], f[MetricConfirmed]},
		{"on_time_inspect_rate", "按时核查率", f[MetricInspectedOnTime], f[MetricInspected]},
		{"valid_report_rate", "有效上报率", f[MetricFound] + f[MetricSelfHandled], f[MetricReported]},
		{"direct_rate", "直办率", f[MetricAnswered], f[MetricReceived]},
		{"kb_answer_rate", "知识库解答率", f[MetricKBAnswered], f[MetricAnswered]},
		{"reroute_rate", "改派率", f[MetricRerouted], f[MetricDispatched]},
	}
}
