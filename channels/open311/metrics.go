package open311

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yihao-city/yihao/ticketing"
)

// Metrics are the door's Prometheus series. They share their names with
// the web door's (yihao_http_request_duration_seconds by route,
// yihao_reports_total by channel): registering a series another door
// registered already reuses it.
type Metrics struct {
	requests *prometheus.HistogramVec
	reports  *prometheus.CounterVec
}

// NewMetrics registers the series with reg (or reuses them).
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
	m.requests = register(reg, m.requests)
	m.reports = register(reg, m.reports)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

func (m *Metrics) observe(method, route string, code int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Observe(d.Seconds())
}

func (m *Metrics) report(created bool, err error) {
	result := "replayed"
	switch {
	case err != nil:
		result = ticketing.KindOf(err).String()
	case created:
		result = "created"
	}
	m.reports.WithLabelValues(string(ticketing.ChannelOpen311), result).Inc()
}
