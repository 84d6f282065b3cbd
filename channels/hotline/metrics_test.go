package hotline_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/hotline/acd"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

// seriesCount is how many series reg holds.
func seriesCount(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	return n
}

// randomToken is a made-up SIP method or number: what an outsider picks.
func randomToken(alphabet string) string {
	var b strings.Builder
	for range 4 + rand.IntN(8) {
		b.WriteByte(alphabet[rand.IntN(len(alphabet))])
	}
	return b.String()
}

// madeUpLine is a number no configured line has: "00" leads no hotline
// number, where a bare "1" and four random digits would sometimes be 12319,
// a real line with series of its own.
func madeUpLine() string { return "00" + randomToken("0123456789") }

// The hole: every method an outsider makes up, and every number a PBX's
// CTI events name, became a label value, one series each, forever, on a
// public /metrics. Now they are counted as "other": 1,200 made-up methods
// over SIP and 999 more made-up lines and causes leave the series count as it
// was after the first of each, and are all counted.
func TestSIPMetricLabelsAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := hotline.NewSIPMetrics(reg, "12345", "12319", "96310", "12315")
	lines, err := hotline.NewLines(demoLines, "86")
	if err != nil {
		t.Fatal(err)
	}
	store := sqliteStore(t)
	s, err := hotline.NewSIP(hotline.SIPConfig{}, hotline.SIPParts{Lines: lines, Store: store,
		Tickets: ticketing.NewService(store, triage{}), Presence: acd.NewMemory(acd.LongestIdle), Bus: pubsub.NewMemory(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a, err := s.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := newParty(t, "127.0.0.1")
	const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	ask := func(method string, i, want int) {
		t.Helper()
		p.sendRaw(a.String(), rawRequest(method, "sip:12345@127.0.0.1", "13800138000", i, p.addr))
		if res := p.final(sip.RequestMethod(method)); res.StatusCode != want {
			t.Fatalf("method %s: %d %s, want %d", method, res.StatusCode, res.Reason, want)
		}
	}
	end := func(line string, cause ticketing.CallCause) {
		at := time.Now()
		m.ObserveEnded(&ticketing.Call{CallID: "c", Line: line, Direction: ticketing.DirectionIn, Cause: cause,
			ArrivedAt: at.Add(-time.Minute), AnsweredAt: at.Add(-30 * time.Second), EndedAt: at})
	}
	ask("X"+randomToken(upper), 0, 405)
	end(madeUpLine(), ticketing.CallCause(randomToken(upper)))
	end("12345", ticketing.CauseAnswered)
	ask("OPTIONS", 0, 200)
	before := seriesCount(t, reg)

	for i := range 1200 {
		ask("X"+randomToken(upper), i+1, 405)
	}
	for range 999 {
		end(madeUpLine(), ticketing.CallCause(randomToken(upper)))
	}
	if after := seriesCount(t, reg); after != before {
		t.Fatalf("%d series before, %d after the made-up methods and lines", before, after)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range s.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			counted[key] = s.GetCounter().GetValue()
		}
	}
	if n := counted["yihao_sip_responses_total,code=405,method=other"]; n != 1201 {
		t.Errorf("made-up methods counted %v times, want 1201: %v", n, counted)
	}
	if n := counted["yihao_sip_responses_total,code=200,method=OPTIONS"]; n != 1 {
		t.Errorf("OPTIONS counted %v times under its name, want 1", n)
	}
	if n := counted["yihao_hotline_calls_total,cause=answered,line=12345"]; n != 1 {
		t.Errorf("a configured line's call counted %v times under its number, want 1", n)
	}
	if n := counted["yihao_hotline_calls_total,cause=other,line=other"]; n != 1000 {
		t.Errorf("made-up lines and causes counted %v times, want 1000", n)
	}
}
