// Package channels holds what every door into Yihao shares and none owns:
// the Prometheus series of intake. The doors themselves (webform, open311,
// and the phone and WeChat adapters to come) know nothing of each other.
package channels

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yihao-city/yihao/ticketing"
)

// Metrics are intake's series, one set for every door, labelled by route
// and channel.
type Metrics struct {
	requests *prometheus.HistogramVec
	reports  *prometheus.CounterVec
}

// NewMetrics registers the series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "yihao_http_request_duration_seconds", Help: "HTTP requests by route and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"method", "route", "code"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "yihao_reports_total", Help: "Reports submitted, by channel and result (created, replayed, or the error kind).",
		}, []string{"channel", "result"}),
	}
	reg.MustRegister(m.requests, m.reports)
	return m
}

// ObserveHTTP records one request by its route pattern, never its URL.
// A nil *Metrics records nothing.
func (m *Metrics) ObserveHTTP(method, route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Observe(d.Seconds())
}

// Report counts one submitted report by its outcome.
func (m *Metrics) Report(ch ticketing.Channel, created bool, err error) {
	if m == nil {
		return
	}
	result := "replayed"
	switch {
	case err != nil:
		result = ticketing.KindOf(err).String()
	case created:
		result = "created"
	}
	m.reports.WithLabelValues(string(ch), result).Inc()
}
