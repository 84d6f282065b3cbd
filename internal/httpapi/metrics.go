package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yihao-city/yihao/ticketing"
)

// Metrics are intake's series, one set for every door, labelled by route
// and channel.
//
// Every label takes values from a bounded set, whatever a client sends:
// methods outside the standard ones are "other", status codes outside
// 100–599 are "other", and past maxRoutes distinct route patterns (a door
// registers a few dozen) the rest are "other". A request can add no series.
type Metrics struct {
	requests *prometheus.HistogramVec
	reports  *prometheus.CounterVec

	mu     sync.Mutex
	routes map[string]struct{}
}

// maxRoutes bounds the route label: far above the routes Yihao registers,
// far below a count that would hurt Prometheus.
const maxRoutes = 256

// other is the label value for anything outside a label's known values.
const other = "other"

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
	m.routes = map[string]struct{}{}
	return m
}

// ObserveHTTP records one request by its route pattern, never its URL.
// A nil *Metrics records nothing.
func (m *Metrics) ObserveHTTP(method, route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(MethodLabel(method), m.routeLabel(route), codeLabel(code)).Observe(d.Seconds())
}

// MethodLabel is method when it is one of HTTP's standard methods, else
// "other": gin and net/http hand unknown methods (any token a client
// invents) to the handlers.
func MethodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return other
}

func codeLabel(code int) string {
	if code < 100 || code > 599 {
		return other
	}
	return strconv.Itoa(code)
}

// routeLabel passes route patterns through until maxRoutes of them have
// been seen; then only those. Callers pass patterns, never URLs, but a
// pattern with a mistake in it must not be able to grow the series.
func (m *Metrics) routeLabel(route string) string {
	if len(route) > 200 {
		return other
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.routes[route]; ok {
		return route
	}
	if len(m.routes) >= maxRoutes {
		return other
	}
	m.routes[route] = struct{}{}
	return route
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
