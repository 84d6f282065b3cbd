package faults

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/hotline/sipptest"
)

// The phone load of kill-instance and restart-postgres: sipp's callers at
// sipRate calls a second, each talking sipTalk, to one instance, answered
// by sipp's agents' phones registered half through each instance. A call
// refused with 503 and Retry-After is dialled again once the fault is
// over, as its caller would.
const (
	sipAgents  = 6
	sipRate    = 4
	sipCalls   = 24 // sipCalls/sipRate seconds of calls
	sipTalk    = 500 * time.Millisecond
	sipTimeout = 40 * time.Second // sipp's global -timeout for the calls
)

// sipAgent is the extension and password of agent i (0-based), as the
// instances' configuration lists them.
func sipAgent(run string, i int) (ext, password string) {
	ext = strconv.Itoa(7001 + i)
	// The run's digits become letters: a password may not contain its
	// extension, whatever the run is.
	letters := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return 'g' + r - '0'
		}
		return r
	}, run)
	return ext, "agent-pw-" + letters + "-no" + strconv.Itoa(i)
}

// sipPort is a port of 127.0.0.1 free for both UDP and TCP (SIP listens on
// both), drawn as freePort draws: below the ephemeral range, so that the
// instance gets it back after a restart.
func sipPort(t testing.TB) int {
	t.Helper()
	for range 50 {
		port := freePort(t)
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

// sipConfig is the sip: section of the instances' configuration: a secret
// shared by both, no rate limit (every caller is 127.0.0.1), and the
// agents.
func sipConfig(run string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sip:\n  secret: %q\n  rate_limit_per_minute: -1\n  queue_wait: 3s\n  ring_timeout: 5s\n  agents:\n",
		"faults-"+run+"-"+randomHex(12))
	for i := range sipAgents {
		ext, pw := sipAgent(run, i)
		fmt.Fprintf(&b, "    - {ext: %q, password: %q, name: %q}\n", ext, pw, "坐席"+ext)
	}
	return b.String()
}

// sipLoad is the phone load during one fault.
type sipLoad struct {
	fault  string
	to     string // the instance called
	caller string // the callers' number, this load's alone, to find its calls
	began  time.Time
	done   chan struct{}
	res    sipptest.Result
	uas    *sipptest.Process
}

// registerPhones registers the agents, the first half through from[0],
// the rest through from[1], and starts their phones. It skips (returns
// nil) when sipp is not installed.
func (cl *cluster) registerPhones(t *testing.T, from [2]string) *sipptest.Process {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Log("no sipp on PATH: no phone load")
		return nil
	}
	phones := sipptest.FreePort(t)
	var rows [2][][]string
	for i := range sipAgents {
		ext, pw := sipAgent(cl.run, i)
		rows[i*2/sipAgents] = append(rows[i*2/sipAgents], []string{ext, pw})
	}
	for i, addr := range from {
		res := sipptest.Run(t, "register.xml", addr, "-inf", sipptest.InjectionFile(t, rows[i]...),
			"-m", strconv.Itoa(len(rows[i])), "-i", "127.0.0.1", "-p", strconv.Itoa(phones), "-t", "u1", "-timeout", "20s")
		if res.Successful != len(rows[i]) || res.Failed != 0 {
			t.Fatalf("registering %d agents through %s: %s", len(rows[i]), addr, res)
		}
	}
	return sipptest.Start(t, "agent_uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(phones), "-t", "u1")
}

// callerNumber is a mobile number of its own for one load's callers.
func callerNumber() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1e8))
	return fmt.Sprintf("139%08d", n.Int64())
}

// startSIPLoad registers the agents' phones (see registerPhones) and
// starts calling to. It returns nil when sipp is not installed.
func (cl *cluster) startSIPLoad(t *testing.T, fault string, to string, from [2]string) *sipLoad {
	t.Helper()
	uas := cl.registerPhones(t, from)
	if uas == nil {
		return nil
	}
	s := &sipLoad{fault: fault, to: to, caller: callerNumber(), done: make(chan struct{}), uas: uas, began: time.Now()}
	go func() {
		defer close(s.done) // also if Run ends the goroutine (t.Fatal)
		s.res = s.call(t, sipCalls)
	}()
	return s
}

// call runs sipp's callers: calls calls at sipRate a second.
func (s *sipLoad) call(t *testing.T, calls int) sipptest.Result {
	t.Helper()
	return sipptest.Run(t, "caller_uac.xml", s.to, "-s", "12345", "-set", "caller", s.caller,
		"-d", strconv.Itoa(int(sipTalk/time.Millisecond)), "-m", strconv.Itoa(calls), "-r", strconv.Itoa(sipRate),
		"-i", "127.0.0.1", "-t", "u1", "-timeout", fmt.Sprintf("%ds", int(sipTimeout/time.Second)))
}

// abortedMark begins each entry of sipp's error log for a call ended by an
// answer its scenario did not expect; abortedCall reads the rest of the
// entry's line: the Call-ID and the answer's status.
const abortedMark = "Aborting call on unexpected message"

var abortedCall = regexp.MustCompile(`^ for Call-Id '([^']+)'[^\n]*received 'SIP/2\.0 (\d{3}) `)

// refusedCalls reads sipp's error log: the calls refused clearly (503 with
// Retry-After, the way an instance says it cannot take a call now), and
// the calls aborted on any other answer, by Call-ID.
func refusedCalls(errlog string) (refused, other map[string]bool) {
	refused, other = map[string]bool{}, map[string]bool{}
	for _, e := range strings.Split(errlog, abortedMark)[1:] {
		m := abortedCall.FindStringSubmatch(e)
		switch {
		case m == nil:
		case m[2] == "503" && strings.Contains(e, "Retry-After:"):
			refused[m[1]] = true
		default:
			other[m[1]] = true
		}
	}
	return refused, other
}

// sipTally is what became of the calls, by sipp and by the calls table.
type sipTally struct {
	Sent, Successful, Failed, Retrans int // sipp's: calls made, successful, failed, retransmissions
	Refused, Redialled                int // refused with 503 and Retry-After; calls made again for them
	RefusedLogged                     int // rows of refused calls, logged once the store was back
	Rows, Distinct, Answered, Ended   int // the calls table's rows of this load
	Overlaps                          int // an agent answering a call before its previous one ended
	Causes                            map[string]int
}

// finish waits for the callers' sipp, dials again the calls refused
// clearly, and checks the call log: each call once (call_id unique), as
// many answered as sipp counted successful, no agent with two calls at
// once.
func (s *sipLoad) finish(ctx context.Context, t *testing.T, cl *cluster) {
	t.Helper()
	select {
	case <-s.done:
	case <-ctx.Done():
		t.Errorf("sipp's callers still running: %v", ctx.Err())
		return
	}
	tl := sipTally{Sent: s.res.Created, Successful: s.res.Successful, Failed: s.res.Failed, Retrans: s.res.Retransmissions}
	if s.res.Stats == nil {
		t.Errorf("sipp's callers: %s", s.res)
		return
	}
	refused, other := refusedCalls(s.res.Errors)
	if tl.Refused = len(refused); tl.Refused > 0 {
		again := s.call(t, tl.Refused)
		tl.Redialled, tl.Successful, tl.Retrans = again.Created, tl.Successful+again.Successful, tl.Retrans+again.Retransmissions
		tl.Failed += again.Failed - tl.Refused
		if again.Successful != tl.Refused {
			t.Errorf("sip: %d calls refused with 503 and Retry-After, %d successful when dialled again: %s", tl.Refused, again.Successful, again)
		}
	}
	// The call log is written with group commit: wait until every call of
	// this load is ended there. A refused call's row comes later (below).
	where := `FROM calls WHERE caller LIKE '%' || $1 AND arrived_at >= $2`
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := cl.db.QueryRow(ctx, `SELECT count(*), count(DISTINCT call_id), count(answered_at), count(ended_at) `+where,
			s.caller, s.began.Add(-time.Second)).Scan(&tl.Rows, &tl.Distinct, &tl.Answered, &tl.Ended)
		if err != nil {
			t.Fatal(err)
		}
		if (tl.Rows >= tl.Successful && tl.Ended == tl.Rows) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A call refused for want of the call log is logged once the store is
	// back (its Call-ID marked), ended as failed: its caller is on the
	// callback list.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		err := cl.db.QueryRow(ctx, `SELECT count(*) `+where+` AND call_id LIKE '%#refused' AND cause = 'failed'`,
			s.caller, s.began.Add(-time.Second)).Scan(&tl.RefusedLogged)
		if err != nil {
			t.Fatal(err)
		}
		if tl.RefusedLogged >= tl.Refused || time.Now().After(deadline) {
			break
		}
	}
	var err error
	if tl.Causes, err = cl.callCauses(ctx, s.caller, s.began.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := cl.db.QueryRow(ctx, `SELECT count(*), count(DISTINCT call_id), count(answered_at), count(ended_at) `+where,
		s.caller, s.began.Add(-time.Second)).Scan(&tl.Rows, &tl.Distinct, &tl.Answered, &tl.Ended); err != nil {
		t.Fatal(err)
	}
	if err := cl.db.QueryRow(ctx, `SELECT count(*) FROM calls a JOIN calls b ON a.agent = b.agent AND a.id < b.id
		WHERE a.agent <> '' AND a.caller LIKE '%' || $1 AND b.caller LIKE '%' || $1
		  AND a.answered_at IS NOT NULL AND b.answered_at IS NOT NULL
		  AND a.answered_at < coalesce(b.ended_at, 'infinity') AND b.answered_at < coalesce(a.ended_at, 'infinity')`,
		s.caller).Scan(&tl.Overlaps); err != nil {
		t.Fatal(err)
	}
	uas := s.uas.Stop()

	lost := max(tl.Successful-tl.Answered, 0)
	line := fmt.Sprintf("fault=%s channel=sip sent=%d acknowledged=%d stored=%d duplicated=%d lost=%d retries=%d failed=%d refused=%d refused_logged=%d redialled=%d rows=%d ended=%d overlaps=%d phones_answered=%d causes=%s",
		s.fault, tl.Sent, tl.Successful, tl.Answered, tl.Rows-tl.Distinct, lost, tl.Retrans, tl.Failed, tl.Refused, tl.RefusedLogged, tl.Redialled,
		tl.Rows, tl.Ended, tl.Overlaps, uas.Successful, formatAnswers(tl.Causes))
	t.Log(line)
	fmt.Println(line)
	if tl.Sent != sipCalls || tl.Successful != sipCalls || tl.Failed != 0 || len(other) > 0 {
		t.Errorf("sip: %d of %d calls successful, %d of them when dialled again after a clear refusal; %d aborted on another answer (sipp's callers): %s",
			tl.Successful, sipCalls, tl.Successful-s.res.Successful, len(other), s.res)
	}
	if tl.RefusedLogged != tl.Refused {
		t.Errorf("sip: %d calls refused with 503 and Retry-After, %d of them in the call log as failed after the store came back", tl.Refused, tl.RefusedLogged)
	}
	// Every call made has one row at most, every successful one its row,
	// answered.
	if tl.Rows != tl.Distinct || tl.Rows < tl.Successful || tl.Rows > tl.Sent+tl.Redialled || tl.Answered != tl.Successful || tl.Ended != tl.Rows {
		t.Errorf("sip: sipp made %d calls (%d of them again), %d successful; the calls table has %d rows (%d call ids), %d answered, %d ended",
			tl.Sent+tl.Redialled, tl.Redialled, tl.Successful, tl.Rows, tl.Distinct, tl.Answered, tl.Ended)
	}
	if tl.Overlaps > 0 {
		t.Errorf("sip: %d pairs of calls answered by one agent at once", tl.Overlaps)
	}
}

// callCauses counts the calls of caller that arrived since, by the cause
// the calls table gives them ("none" while a call goes on).
func (cl *cluster) callCauses(ctx context.Context, caller string, since time.Time) (map[string]int, error) {
	rows, err := cl.db.Query(ctx, `SELECT cause, count(*) FROM calls WHERE caller LIKE '%' || $1 AND arrived_at >= $2
		GROUP BY cause`, caller, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var cause string
		var n int
		if err := rows.Scan(&cause, &n); err != nil {
			return nil, err
		}
		if cause == "" {
			cause = "none"
		}
		out[cause] = n
	}
	return out, rows.Err()
}
