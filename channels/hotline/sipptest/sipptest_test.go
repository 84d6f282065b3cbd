package sipptest_test

import (
	"strconv"
	"testing"

	"github.com/yihao-city/yihao/channels/hotline/sipptest"
)

// The caller scenarios against sipp's own agent, no proxy in between: the
// scenarios agree with each other on both transports, and the helper reads
// sipp's statistics on both sides.
func TestCallerAgainstAgent(t *testing.T) {
	t.Parallel()
	const calls = 10
	for _, transport := range []string{"u1", "t1"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			// The agent rings 1 s: callers hang up after 200 ms of talk,
			// or cancel after 300 ms of ringing.
			agent := sipptest.Start(t, "agent_uas.xml", "-t", transport, "-d", "1000")
			for _, c := range []struct {
				scenario string
				wait     string // -d: talk time, or ringing before CANCEL
			}{
				{"caller_uac.xml", "200"},
				{"caller_cancel.xml", "300"},
			} {
				res := sipptest.Run(t, c.scenario, agent.Addr, "-t", transport,
					"-s", "12345", "-m", strconv.Itoa(calls), "-r", "20", "-d", c.wait, "-timeout", "30s", "-timeout_error")
				if res.Successful != calls || res.Failed != 0 || res.ExitCode != sipptest.ExitOK {
					t.Errorf("%s over %s: %v", c.scenario, transport, res)
				}
			}
			res := agent.Stop()
			if res.Successful != 2*calls || res.Failed != 0 || res.ExitCode != sipptest.ExitOK {
				t.Errorf("agent over %s: %v", transport, res)
			}
		})
	}
}

// caller_retrans.xml's INVITE goes out twice per call (sipp's own UDP
// retransmission), and sipp's agent answers the copy with its 180.
func TestRetransmittedInvite(t *testing.T) {
	t.Parallel()
	agent := sipptest.Start(t, "agent_uas.xml", "-t", "u1", "-d", "1000")
	res := sipptest.Run(t, "caller_retrans.xml", agent.Addr, "-t", "u1",
		"-s", "12345", "-m", "5", "-r", "20", "-d", "100", "-timeout", "30s", "-timeout_error")
	if res.Successful != 5 || res.Failed != 0 || res.Retransmissions < 5 {
		t.Errorf("caller: want 5 successful calls with at least 5 retransmissions, %v", res)
	}
	if got := agent.Stop(); got.Successful != 5 || got.Failed != 0 {
		t.Errorf("agent: %v", got)
	}
}
