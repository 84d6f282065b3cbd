package hotline

import (
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/yihao-city/yihao/ticketing"
)

// SIPMetrics are the phone door's Prometheus series. The hotline figures
// follow from them in PromQL, per line:
//
//	接通率        sum(yihao_hotline_calls_total{cause="answered"}) / sum(yihao_hotline_calls_total)
//	15 秒接通率   yihao_hotline_answer_wait_seconds_bucket{le="15"} / sum(yihao_hotline_calls_total)
//	平均等待      rate(yihao_hotline_wait_seconds_sum) / rate(yihao_hotline_wait_seconds_count)
//	放弃率        yihao_hotline_calls_total{cause="abandoned"} / sum(yihao_hotline_calls_total)
//	平均通话      rate(yihao_hotline_talk_seconds_sum) / rate(yihao_hotline_talk_seconds_count)
//
// The same figures over any time range come from GET /api/v1/hotline/stats.
// A nil *SIPMetrics records nothing.
type SIPMetrics struct {
	requests   *prometheus.CounterVec
	refused    *prometheus.CounterVec
	arrivals   *prometheus.CounterVec
	calls      *prometheus.CounterVec
	wait       *prometheus.HistogramVec
	answerWait *prometheus.HistogramVec
	talk       *prometheus.HistogramVec
	queued     prometheus.Gauge
	inCall     prometheus.Gauge
	popsLost   prometheus.Counter
	lines      map[string]bool // line label values; any other number is "other"
}

// otherLabel stands for every label value not known in advance: methods,
// numbers and codes come from outside, and each distinct label value is
// a series kept for the life of the process.
const otherLabel = "other"

// NewSIPMetrics registers the series with reg. lines are the configured
// hotline numbers: calls on any other number (a PBX's CTI events may name
// any) are counted under line="other".
func NewSIPMetrics(reg prometheus.Registerer, lines ...string) *SIPMetrics {
	waits := []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 120, 300}
	m := &SIPMetrics{
		lines: map[string]bool{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "yihao_sip_responses_total", Help: "SIP responses sent by Yihao itself, by request method (other: any method Yihao does not know) and status code.",
		}, []string{"method", "code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "yihao_sip_refused_total", Help: "SIP requests refused: rate_limited (one source over its rate), register (wrong credentials), no_dialog (an in-dialog request for no call of ours, or not from its parties), queue_full (a caller given the fallback at once: MaxQueued callers wait already), overload (a new call past MaxCallRate, answered 503 at once).",
		}, []string{"reason"}),
		arrivals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "yihao_hotline_arrivals_total", Help: "Inbound calls arrived over SIP, by line.",
		}, []string{"line"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "yihao_hotline_calls_total", Help: "Inbound calls ended, by line and cause (answered, abandoned, no_agent, busy, failed); SIP and CTI alike.",
		}, []string{"line", "cause"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "yihao_hotline_wait_seconds", Help: "Caller's wait of ended inbound calls: to the answer, or to the end when unanswered.", Buckets: waits,
		}, []string{"line"}),
		answerWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "yihao_hotline_answer_wait_seconds", Help: "Wait of answered inbound calls (le=15 is the 15-second answer count).", Buckets: waits,
		}, []string{"line"}),
		talk: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "yihao_hotline_talk_seconds", Help: "Talk time of answered inbound calls.", Buckets: []float64{15, 30, 60, 120, 180, 300, 600, 1200, 3600},
		}, []string{"line"}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "yihao_hotline_queued_calls", Help: "Callers waiting in this instance's queue for a free agent.",
		}),
		inCall: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "yihao_hotline_active_calls", Help: "Answered calls this instance is proxying.",
		}),
		popsLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "yihao_hotline_pops_dropped_total", Help: "Screen pops of SIP calls dropped because the relay to the desks was a whole queue behind (the bus or the store slow or down).",
		}),
	}
	for _, l := range lines {
		m.lines[l] = true
	}
	reg.MustRegister(m.requests, m.refused, m.arrivals, m.calls, m.wait, m.answerWait, m.talk, m.queued, m.inCall, m.popsLost)
	return m
}

// metricMethod is a method as a label value: its name if SIP defines it,
// else "other".
func metricMethod(m sip.RequestMethod) string {
	switch m {
	case sip.INVITE, sip.ACK, sip.CANCEL, sip.BYE, sip.REGISTER, sip.OPTIONS, sip.SUBSCRIBE, sip.NOTIFY,
		sip.REFER, sip.INFO, sip.MESSAGE, sip.PRACK, sip.UPDATE, sip.PUBLISH:
		return string(m)
	}
	return otherLabel
}

// metricCode is a status code as a label value.
func metricCode(code int) string {
	if code < 100 || code > 699 {
		return otherLabel
	}
	return strconv.Itoa(code)
}

// metricLine is a line number as a label value.
func (m *SIPMetrics) metricLine(line string) string {
	if m.lines[line] {
		return line
	}
	return otherLabel
}

func (m *SIPMetrics) request(method sip.RequestMethod, code int) {
	if m != nil {
		m.requests.WithLabelValues(metricMethod(method), metricCode(code)).Inc()
	}
}

func (m *SIPMetrics) noDialog() {
	if m != nil {
		m.refused.WithLabelValues("no_dialog").Inc()
	}
}

func (m *SIPMetrics) popDropped() {
	if m != nil {
		m.popsLost.Inc()
	}
}

func (m *SIPMetrics) limited() {
	if m != nil {
		m.refused.WithLabelValues("rate_limited").Inc()
	}
}

func (m *SIPMetrics) shed() {
	if m != nil {
		m.refused.WithLabelValues("overload").Inc()
	}
}

func (m *SIPMetrics) queueFull() {
	if m != nil {
		m.refused.WithLabelValues("queue_full").Inc()
	}
}

func (m *SIPMetrics) registerRefused() {
	if m != nil {
		m.refused.WithLabelValues("register").Inc()
	}
}

func (m *SIPMetrics) arrived(line string) {
	if m != nil {
		m.arrivals.WithLabelValues(m.metricLine(line)).Inc()
	}
}

func (m *SIPMetrics) queue(d float64) {
	if m != nil {
		m.queued.Add(d)
	}
}

func (m *SIPMetrics) active(d float64) {
	if m != nil {
		m.inCall.Add(d)
	}
}

// observeCall counts an inbound call once: when ev is the hangup that
// ended it (a repeated hangup finds the call ended earlier).
func (m *SIPMetrics) observeCall(ev ticketing.CallEvent, c *ticketing.Call) {
	if m == nil || c == nil || ev.Type != ticketing.CallHangup || !c.Ended() || c.Direction != ticketing.DirectionIn {
		return
	}
	if c.EndedAt.Before(ev.At.Truncate(time.Microsecond)) {
		return
	}
	m.ObserveEnded(c)
}

// ObserveEnded counts an inbound call that has just ended.
func (m *SIPMetrics) ObserveEnded(c *ticketing.Call) {
	if m == nil {
		return
	}
	line, cause := m.metricLine(c.Line), string(c.Cause)
	switch c.Cause {
	case ticketing.CauseAnswered, ticketing.CauseAbandoned, ticketing.CauseNoAgent, ticketing.CauseBusy, ticketing.CauseFailed:
	default:
		cause = otherLabel
	}
	m.calls.WithLabelValues(line, cause).Inc()
	m.wait.WithLabelValues(line).Observe(c.Wait().Seconds())
	if c.Answered() {
		m.answerWait.WithLabelValues(line).Observe(c.Wait().Seconds())
		m.talk.WithLabelValues(line).Observe(c.Talk().Seconds())
	}
}
