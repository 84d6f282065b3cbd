// Package loadgen is `yihao bench`: load generators that drive a running
// server through its public doors — web intake, WeChat pushes, the desks —
// and measure it, from the outside as a city's traffic would. Intake also
// checks afterwards that no acknowledged report was lost or doubled.
package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Run runs `yihao bench <what> [flags]`; args excludes "bench".
func Run(ctx context.Context, args []string, stdout io.Writer) error {
	const valid = "valid: intake, wechat, desks, field"
	if len(args) == 0 {
		return errors.New("bench: missing target; " + valid)
	}
	switch args[0] {
	case "intake":
		return benchIntake(ctx, args[1:], stdout)
	case "wechat":
		return benchWeChat(ctx, args[1:], stdout)
	case "desks":
		return benchDesks(ctx, args[1:], stdout)
	case "field":
		return benchField(ctx, args[1:], stdout)
	default:
		return fmt.Errorf("bench: unknown target %q; %s", args[0], valid)
	}
}

// benchConfig holds the flags of `yihao bench intake`.
type benchConfig struct {
	base    string
	n, c    int
	replay  float64
	timeout time.Duration
	rate    float64
	retries int
}

func parseBenchFlags(args []string, out io.Writer) (benchConfig, error) {
	var cfg benchConfig
	fs := flag.NewFlagSet("yihao bench intake", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.base, "url", "http://127.0.0.1:8080", "base URL of a running server")
	fs.IntVar(&cfg.n, "n", 2000, "number of reports to submit")
	fs.IntVar(&cfg.c, "c", 32, "concurrent workers")
	fs.Float64Var(&cfg.replay, "replay", 0.05, "fraction of keys replayed afterwards to check idempotency")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.Float64Var(&cfg.rate, "rate", 0, "reports started per second (0: as fast as the workers go)")
	fs.IntVar(&cfg.retries, "retries", 3, "retries of a report after a network error, a 5xx or a 429 (with its key)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("bench intake: unexpected arguments %q", fs.Args())
	case cfg.n < 1:
		return cfg, errors.New("bench intake: --n must be at least 1")
	case cfg.c < 1:
		return cfg, errors.New("bench intake: --c must be at least 1")
	case cfg.replay < 0 || cfg.replay > 1:
		return cfg, errors.New("bench intake: --replay must be between 0 and 1")
	case cfg.retries < 0:
		return cfg, errors.New("bench intake: --retries must be at least 0")
	case cfg.timeout <= 0:
		return cfg, errors.New("bench intake: --timeout must be positive")
	}
	u, err := url.Parse(cfg.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, fmt.Errorf("bench intake: --url %q is not an http(s) URL", cfg.base)
	}
	cfg.base = strings.TrimRight(cfg.base, "/")
	return cfg, nil
}

// benchReport is one generated report and what the server answered for it.
type benchReport struct {
	key  string
	body []byte // kept verbatim: a replay must send the very same bytes

	acked    bool
	number   string
	token    string
	latency  time.Duration // from the first attempt to the answer, retries included
	answered time.Duration // of the attempt that succeeded alone
	done     time.Time     // when the acknowledgement came
	err      string        // why it failed, if it did
}

// intakeResponse is the body of a successful POST /api/v1/reports.
type intakeResponse struct {
	Number     string `json:"number"`
	Status     string `json:"status"`
	Category   string `json:"category"`
	Department string `json:"department"`
	TrackToken string `json:"track_token"`
}

func benchIntake(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseBenchFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}

	// One connection a worker, kept for the whole run, so we measure the
	// server rather than TCP handshakes.
	ws, err := newWires(ctx, cfg.base, cfg.c, cfg.timeout)
	if err != nil {
		return err
	}
	defer ws.close()
	b := &bencher{cfg: cfg, wires: ws}

	reports := generateReports(cfg.n)
	fmt.Fprintf(stdout, "yihao bench intake  %s  n=%d c=%d\n\n", cfg.base, cfg.n, cfg.c)

	// 1. Submit.
	start := time.Now()
	forEach(ctx, cfg.c, len(reports), cfg.rate, func(i int) { b.submit(ctx, &reports[i]) })
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bench intake: interrupted: %w", err)
	}

	var acked []*benchReport
	var lat, answered []time.Duration
	var done []time.Time
	failures := map[string]int{}
	for i := range reports {
		r := &reports[i]
		if r.acked {
			acked = append(acked, r)
			lat, answered, done = append(lat, r.latency), append(answered, r.answered), append(done, r.done)
		} else {
			failures[r.err]++
		}
	}
	printSummary(stdout, cfg.n, len(acked), int(b.retries.Load()), elapsed, lat)
	if n := b.busy.Load(); n > 0 {
		// Shedding: what the admitted attempts took, apart from the
		// refusals' Retry-After waits.
		// The steady rate: acknowledgements between the 10th and the 90th
		// percentile of their times, without the tail of Retry-After waits
		// the last refused reports spend at the end of a closed-loop run.
		slices.Sort(answered)
		slices.SortFunc(done, func(a, b time.Time) int { return a.Compare(b) })
		steady := "-"
		if lo, hi := len(done)/10, len(done)*9/10; hi > lo && done[hi].After(done[lo]) {
			steady = fmt.Sprintf("%.1f/s", float64(hi-lo)/done[hi].Sub(done[lo]).Seconds())
		}
		fmt.Fprintf(stdout, "busy answers  %d (503/429 with Retry-After, retried)\nadmitted attempt p50 %s  p99 %s\nsteady throughput %s (the middle 80%% of acknowledgements)\n",
			n, ms(percentile(answered, 0.5)), ms(percentile(answered, 0.99)), steady)
	}
	printReasons(stdout, "failures", failures)

	// 2. Every acknowledged ticket must be readable with its token.
	lost := map[string]int{}
	var lostMu sync.Mutex
	forEach(ctx, cfg.c, len(acked), 0, func(i int) {
		if why := b.check(ctx, acked[i]); why != "" {
			lostMu.Lock()
			lost[why]++
			lostMu.Unlock()
		}
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bench intake: interrupted: %w", err)
	}

	// 3. Distinct keys must have got distinct numbers.
	doubled := 0
	seen := make(map[string]bool, len(acked))
	for _, r := range acked {
		if seen[r.number] {
			doubled++
		}
		seen[r.number] = true
	}
	nLost := sum(lost)
	fmt.Fprintf(stdout, "\nverified: %d stored, %d lost, %d doubled\n", len(acked)-nLost, nLost, doubled)
	printReasons(stdout, "lost", lost)

	// 4. Replaying a key must answer the original ticket, not make a new one.
	k := int(cfg.replay*float64(len(acked)) + 0.5)
	sample := slices.Clone(acked)
	mrand.Shuffle(len(sample), func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
	sample = sample[:k]
	mismatched := map[string]int{}
	var mismatchedMu sync.Mutex
	forEach(ctx, cfg.c, len(sample), 0, func(i int) {
		if why := b.replay(ctx, sample[i]); why != "" {
			mismatchedMu.Lock()
			mismatched[why]++
			mismatchedMu.Unlock()
		}
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bench intake: interrupted: %w", err)
	}
	nMis := sum(mismatched)
	doubled += nMis
	fmt.Fprintf(stdout, "verified: %d of %d replayed keys answered the same ticket, %d doubled\n", k-nMis, k, nMis)
	printReasons(stdout, "doubled on replay", mismatched)

	if nLost > 0 || doubled > 0 || len(acked) < cfg.n {
		return fmt.Errorf("bench intake: %d of %d acknowledged, %d lost, %d doubled", len(acked), cfg.n, nLost, doubled)
	}
	return nil
}

// bencher is the shared HTTP side of a run.
type bencher struct {
	cfg     benchConfig
	wires   *wires
	retries atomic.Int64
	busy    atomic.Int64 // answers 503 or 429 with Retry-After: the server shedding
}

// submit posts r, retrying (--retries times) with the same key, which can
// never create a second ticket: that is what the server promises and what
// we test. Latency runs from the first attempt: what the citizen waited,
// retries and backoff included.
func (b *bencher) submit(ctx context.Context, r *benchReport) {
	t0 := time.Now()
	for attempt := 0; ; attempt++ {
		a0 := time.Now()
		status, body, hdr, err := b.do(http.MethodPost, "/api/v1/reports", r.key, r.body)
		took := time.Since(t0)
		if (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && hdr.Get("Retry-After") != "" {
			b.busy.Add(1)
		}
		if retryable(status, err) && attempt < b.cfg.retries && ctx.Err() == nil {
			b.retries.Add(1)
			if sleep(ctx, backoff(attempt, hdr)) == nil {
				continue
			}
		}
		switch {
		case err != nil:
			r.err = errReason(err)
		// A 200 is right on a retry (an earlier attempt got through before its
		// answer was lost) but wrong on a first attempt: the key is fresh.
		case status == http.StatusCreated || (status == http.StatusOK && attempt > 0):
			var resp intakeResponse
			if jerr := json.Unmarshal(body, &resp); jerr != nil || !isTicketNumber(resp.Number) || resp.TrackToken == "" {
				r.err = fmt.Sprintf("%d with a malformed body", status)
				return
			}
			r.acked, r.number, r.token, r.latency, r.answered, r.done = true, resp.Number, resp.TrackToken, took, time.Since(a0), time.Now()
		case status == http.StatusOK:
			r.err = "200 on a first attempt: the server already knew a fresh key"
		default:
			r.err = statusReason(status, body)
		}
		return
	}
}

// check reads r's ticket back as the citizen would and says what is wrong.
func (b *bencher) check(ctx context.Context, r *benchReport) string {
	u := "/api/v1/tickets/" + url.PathEscape(r.number) + "?token=" + url.QueryEscape(r.token)
	status, body, err := b.retry(ctx, http.MethodGet, u, "", nil)
	switch {
	case err != nil:
		return errReason(err)
	case status != http.StatusOK:
		return statusReason(status, body)
	}
	var got struct {
		Number string `json:"number"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		return "200 with a malformed body"
	}
	if got.Number != r.number {
		return "200 with another ticket's number"
	}
	return ""
}

// replay posts r again with its key and says what is wrong if the server
// does not answer 200 with the original number.
func (b *bencher) replay(ctx context.Context, r *benchReport) string {
	status, body, err := b.retry(ctx, http.MethodPost, "/api/v1/reports", r.key, r.body)
	switch {
	case err != nil:
		return errReason(err)
	case status == http.StatusCreated:
		return "201: a replayed key created a new ticket"
	case status != http.StatusOK:
		return statusReason(status, body)
	}
	var got intakeResponse
	if err := json.Unmarshal(body, &got); err != nil {
		return "200 with a malformed body"
	}
	if got.Number != r.number {
		return "200 with a different number"
	}
	return ""
}

// retry is do with the same retry policy as submit, for the verification
// passes, where only the final answer matters.
func (b *bencher) retry(ctx context.Context, method, path, key string, body []byte) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		status, resp, hdr, err := b.do(method, path, key, body)
		if !retryable(status, err) || attempt >= max(b.cfg.retries, 3) || ctx.Err() != nil {
			return status, resp, err
		}
		if serr := sleep(ctx, backoff(attempt, hdr)); serr != nil {
			return status, resp, err
		}
	}
}

// do sends one request for path (under the base URL) and reads the whole
// answer.
func (b *bencher) do(method, path, key string, body []byte) (int, []byte, http.Header, error) {
	header := make([]string, 1, 3)
	header[0] = "Accept: application/json"
	if body != nil {
		header = append(header, "Content-Type: application/json")
	}
	if key != "" {
		header = append(header, "Idempotency-Key: "+key)
	}
	return b.wires.do(method, path, header, body, 1<<20)
}

// retryable is true for failures that may pass on a second try. 429 joins
// the 5xx because it is the other status that comes with Retry-After.
func retryable(status int, err error) bool {
	return err != nil || status >= 500 || status == http.StatusTooManyRequests
}

// maxRetryAfter caps a server's Retry-After so one odd header cannot stall
// the whole run.
const maxRetryAfter = 10 * time.Second

// backoff is the server's Retry-After if it sent one, else 50ms, 100ms, 200ms
// and so on to 6.4 s, with jitter, so retrying workers do not come back in lockstep.
func backoff(attempt int, hdr http.Header) time.Duration {
	if v := hdr.Get("Retry-After"); v != "" {
		d := time.Duration(-1)
		if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			d = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			d = time.Until(t)
		}
		if d >= 0 {
			return min(d, maxRetryAfter)
		}
	}
	d := 50 * time.Millisecond << min(attempt, 7) // 6.4 s at most, and half again of jitter
	return d + mrand.N(d/2)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// forEach calls fn(0..n-1) from c workers and stops handing out work once
// ctx is done.
// forEach runs fn for 0..n-1 on c workers; rate > 0 starts at most rate
// a second, evenly spaced (a steady load for soak runs).
func forEach(ctx context.Context, c, n int, rate float64, fn func(i int)) {
	jobs := make(chan int)
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		tick = t.C
	}
	var wg sync.WaitGroup
	for range min(c, n) {
		wg.Go(func() {
			for i := range jobs {
				fn(i)
			}
		})
	}
feed:
	for i := range n {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
}

// errReason shortens a transport error to something that groups well:
// the same failure on 300 requests should print as one line.
func errReason(err error) string {
	var uerr *url.Error
	var nerr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.As(err, &uerr):
		return "network: " + uerr.Err.Error()
	}
	return "network: " + err.Error()
}

// statusReason names an HTTP failure by status and the server's error code.
func statusReason(status int, body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	s := strconv.Itoa(status)
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		s += " " + e.Error.Code
		if e.Error.Field != "" {
			s += " (" + e.Error.Field + ")"
		}
	}
	return s
}

func isTicketNumber(s string) bool {
	if len(s) != 14 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func printSummary(w io.Writer, sent, acked, retries int, elapsed time.Duration, lat []time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "sent\t%d\n", sent)
	fmt.Fprintf(tw, "acknowledged\t%d\n", acked)
	fmt.Fprintf(tw, "failed\t%d\n", sent-acked)
	fmt.Fprintf(tw, "retries\t%d\n", retries)
	fmt.Fprintf(tw, "elapsed\t%.3fs\n", elapsed.Seconds())
	fmt.Fprintf(tw, "throughput\t%.1f/s\n", float64(acked)/elapsed.Seconds())
	slices.Sort(lat)
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p95", 0.95}, {"p99", 0.99}, {"max", 1}} {
		v := "-" // nothing succeeded, nothing to measure
		if len(lat) > 0 {
			v = ms(percentile(lat, p.q))
		}
		fmt.Fprintf(tw, "latency %s\t%s\n", p.name, v)
	}
	tw.Flush()
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// printReasons lists why things went wrong, most common first, so a bad run
// explains itself without a second tool.
func printReasons(w io.Writer, title string, reasons map[string]int) {
	if len(reasons) == 0 {
		return
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := reasons[b] - reasons[a]; c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	fmt.Fprintf(w, "%s:\n", title)
	for i, k := range keys {
		if i == 5 {
			fmt.Fprintf(w, "  ... and %d more kinds\n", len(keys)-5)
			break
		}
		fmt.Fprintf(w, "  %6d  %s\n", reasons[k], k)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// The report generator mixes the kinds of complaints a hotline really gets,
// with and without location and contact, so routing and validation see
// realistic variety rather than one repeated body.
var (
	benchIssues = []string{
		"井盖缺失，晚上路过的人很容易踩空，请尽快处理",
		"路灯不亮已经好几天了，夜里一片漆黑",
		"楼下商铺装修噪音扰民，晚上十点以后还在施工",
		"垃圾堆放在小区门口无人清运，气味很大",
		"有商贩占道经营，人行道被摊位堵死了",
		"家里供暖不热，室温只有十四五度",
		"楼上漏水，天花板已经渗水发霉",
		"违章停车堵住了消防通道",
		"自来水发黄有异味，不敢饮用",
		"公交站牌倒了，砸到人行道上",
		"小区电梯经常困人，物业不管",
		"路面塌陷出现一个大坑，车辆无法通行",
	}
	benchWhen = []string{"今天早上", "昨天晚上", "这一周以来", "刚才", "连续三天", "每天夜里"}
	benchAddr = []string{
		"朝阳区建国路88号", "海淀区中关村大街27号", "东城区东直门南大街5号", "西城区西单北大街120号",
		"丰台区方庄路9号院", "石景山区鲁谷路74号", "通州区新华大街256号", "昌平区回龙观西大街18号",
	}
	benchNames = []string{"张先生", "李女士", "王师傅", "刘阿姨", "陈同学", ""}
)

type benchContact struct {
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
}

type benchBody struct {
	Text     string        `json:"text"`
	Lat      *float64      `json:"lat,omitempty"`
	Lon      *float64      `json:"lon,omitempty"`
	Address  string        `json:"address,omitempty"`
	Contact  *benchContact `json:"contact,omitempty"`
	Category string        `json:"category,omitempty"` // left empty: routing decides
}

// generateReports makes n distinct reports. Keys carry a random per-run
// prefix so a second run against the same server never replays the first.
func generateReports(n int) []benchReport {
	prefix := "bench-" + rand.Text()[:12]
	out := make([]benchReport, n)
	for i := range out {
		addr := benchAddr[mrand.N(len(benchAddr))]
		b := benchBody{Text: fmt.Sprintf("%s%s，%s（第%d条）",
			benchWhen[mrand.N(len(benchWhen))], addr, benchIssues[i%len(benchIssues)], i+1)}
		if mrand.N(2) == 0 { // half come from a phone with location
			lat := 39.9 + (mrand.Float64()-0.5)*0.2
			lon := 116.4 + (mrand.Float64()-0.5)*0.2
			b.Lat, b.Lon, b.Address = &lat, &lon, addr
		}
		if mrand.N(3) != 0 { // two in three leave a contact; the rest are anonymous
			b.Contact = &benchContact{
				Name:  benchNames[mrand.N(len(benchNames))],
				Phone: fmt.Sprintf("138%08d", mrand.N(100_000_000)),
			}
		}
		body, err := json.Marshal(b)
		if err != nil {
			panic(err) // cannot happen: plain strings and floats
		}
		out[i] = benchReport{key: fmt.Sprintf("%s-%06d", prefix, i), body: body}
	}
	return out
}
