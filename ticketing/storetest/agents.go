package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/yihao-city/yihao/ticketing"
)

// agentTests returns the conformance tests of the agents' SIP accounts and of
// the listing by reporter phone (a caller's history on the agent desk).
func agentTests() []storeTest {
	return []storeTest{
		{"AgentRoundTrip", testAgentRoundTrip},
		{"AgentUpsertKeepsCreatedAt", testAgentUpsert},
		{"AgentsByExt", testAgentsByExt},
		{"AgentNotFound", testAgentNotFound},
		{"AgentInvalid", testAgentInvalid},
		{"ListByPhone", testListByPhone},
		{"AgentSessionEpoch", testAgentSessionEpoch},
	}
}

var agentOpts = cmp.Options{cmpopts.EquateApproxTime(0), cmpopts.EquateEmpty()}

func agent(ext string, skills ...string) *ticketing.Agent {
	return &ticketing.Agent{Ext: ext, Name: "坐席 " + ext, Realm: "yihao", HA1: ticketing.HA1(ext, "yihao", "pw-"+ext),
		Skills: skills, CreatedAt: base, UpdatedAt: base}
}

func putAgent(t *testing.T, s ticketing.Store, a *ticketing.Agent) {
	t.Helper()
	if err := s.PutAgent(context.Background(), a); err != nil {
		t.Fatalf("PutAgent(%s): %v", a.Ext, err)
	}
}

func testAgentRoundTrip(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	for _, want := range []*ticketing.Agent{
		agent("2001", "12345", "12319", "英语"),
		agent("2002"),
		{Ext: "0099887766554433", Realm: "testrealm@host.com", HA1: ticketing.HA1("0099887766554433", "testrealm@host.com", "x"),
			UpdatedAt: base.Add(time.Hour)},
	} {
		putAgent(t, s, want)
		got, err := s.AgentByExt(ctx, want.Ext)
		if err != nil {
			t.Fatalf("AgentByExt(%s): %v", want.Ext, err)
		}
		if want.CreatedAt.IsZero() {
			// A zero creation time is the update time.
			want.CreatedAt = want.UpdatedAt
		}
		if d := cmp.Diff(want, got, agentOpts); d != "" {
			t.Errorf("agent %s (-want +got):\n%s", want.Ext, d)
		}
	}
}

func testAgentUpsert(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	putAgent(t, s, agent("2001", "12345"))
	later := base.Add(24 * time.Hour)
	next := &ticketing.Agent{Ext: "2001", Name: "王芳", Realm: "city.example", HA1: ticketing.HA1("2001", "city.example", "new"),
		Skills: []string{"12319"}, CreatedAt: later, UpdatedAt: later}
	putAgent(t, s, next)
	if !next.CreatedAt.Equal(base) {
		t.Errorf("PutAgent set CreatedAt to %v, want the stored %v", next.CreatedAt, base)
	}
	want := &ticketing.Agent{Ext: "2001", Name: "王芳", Realm: "city.example", HA1: next.HA1, Skills: []string{"12319"},
		CreatedAt: base, UpdatedAt: later}
	got, err := s.AgentByExt(ctx, "2001")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, agentOpts); d != "" {
		t.Errorf("after the update (-want +got):\n%s", d)
	}
	// Skills can be cleared (back to every line).
	next.Skills, next.UpdatedAt = nil, later.Add(time.Minute)
	putAgent(t, s, next)
	if got, err := s.AgentByExt(ctx, "2001"); err != nil || len(got.Skills) != 0 {
		t.Errorf("after clearing skills: %+v, %v", got, err)
	}
	all, err := s.Agents(ctx)
	if err != nil || len(all) != 1 {
		t.Errorf("Agents after two puts of one ext = %d agents, %v; want 1", len(all), err)
	}
}

func testAgentsByExt(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	all, err := s.Agents(ctx)
	if err != nil || len(all) != 0 {
		t.Fatalf("Agents of an empty store = %v, %v", all, err)
	}
	for _, ext := range []string{"2003", "10", "2001", "2002", "200"} {
		putAgent(t, s, agent(ext, "12345"))
	}
	all, err = s.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var exts []string
	for _, a := range all {
		exts = append(exts, a.Ext)
		if a.HA1 != ticketing.HA1(a.Ext, "yihao", "pw-"+a.Ext) || !slices.Equal(a.Skills, []string{"12345"}) || a.Name != "坐席 "+a.Ext {
			t.Errorf("listed agent %+v lost fields", a)
		}
	}
	if want := []string{"10", "200", "2001", "2002", "2003"}; !slices.Equal(exts, want) {
		t.Errorf("Agents = %v, want %v (by ext)", exts, want)
	}
}

func testAgentNotFound(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	if _, err := s.AgentByExt(ctx, "2001"); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("AgentByExt(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAgent(ctx, "2001"); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("DeleteAgent(unknown) = %v, want ErrNotFound", err)
	}
	putAgent(t, s, agent("2001"))
	putAgent(t, s, agent("2002"))
	if err := s.DeleteAgent(ctx, "2001"); err != nil {
		t.Fatalf("DeleteAgent: %v", err)
	}
	if _, err := s.AgentByExt(ctx, "2001"); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("AgentByExt(deleted) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAgent(ctx, "2001"); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("DeleteAgent twice = %v, want ErrNotFound", err)
	}
	all, err := s.Agents(ctx)
	if err != nil || len(all) != 1 || all[0].Ext != "2002" {
		t.Errorf("Agents after the delete = %v, %v; want only 2002", all, err)
	}
}

func testAgentInvalid(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	bad := agent("9")
	if err := s.PutAgent(ctx, bad); !errors.Is(err, ticketing.ErrInvalid) {
		t.Errorf("PutAgent(one-digit ext) = %v, want ErrInvalid", err)
	}
	bad = agent("2001")
	bad.HA1 = "Circle Of Life"
	if err := s.PutAgent(ctx, bad); !errors.Is(err, ticketing.ErrInvalid) {
		t.Errorf("PutAgent(password as HA1) = %v, want ErrInvalid", err)
	}
	if all, err := s.Agents(ctx); err != nil || len(all) != 0 {
		t.Errorf("invalid agents were stored: %v, %v", all, err)
	}
}

// testListByPhone lists a caller's tickets: the reporter phone equals one
// of the numbers given; tickets without a phone never match. A WeChat
// citizen's are found by OpenID.
func testListByPhone(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	svc, _ := newService(s)
	const a, b = "+8613800138000", "+8613900139000"
	var n []string
	for i, r := range []struct {
		ch     ticketing.Channel
		phone  string
		openID string
	}{
		{ticketing.ChannelPhone, a, ""},
		{ticketing.ChannelWeb, b, ""},
		{ticketing.ChannelWeChat, "", "oWx1"},
		{ticketing.ChannelWeb, a, ""},
		{ticketing.ChannelPhone, "+8613700137000", ""},
	} {
		tk, _, err := svc.Submit(ctx, ticketing.Report{Channel: r.ch, Text: "路灯不亮", Reporter: ticketing.Contact{Phone: r.phone, OpenID: r.openID},
			ReceivedAt: base.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatalf("Submit %d: %v", i, err)
		}
		n = append(n, tk.Number)
	}
	for _, tc := range []struct {
		name string
		f    ticketing.ListFilter
		want []string
	}{
		{"none given", ticketing.ListFilter{Phones: []string{}}, n},
		{"one", ticketing.ListFilter{Phones: []string{a}}, []string{n[0], n[3]}},
		{"two", ticketing.ListFilter{Phones: []string{b, a}}, []string{n[0], n[1], n[3]}},
		{"unknown", ticketing.ListFilter{Phones: []string{"+8610000000000"}}, []string{}},
		{"empty matches nothing", ticketing.ListFilter{Phones: []string{""}}, []string{}},
		{"empty beside one", ticketing.ListFilter{Phones: []string{"", b}}, []string{n[1]}},
		{"with channel", ticketing.ListFilter{Phones: []string{a}, Channel: ticketing.ChannelWeb}, []string{n[3]}},
		{"with window and limit", ticketing.ListFilter{Phones: []string{a, b}, From: base.Add(time.Hour), Limit: 1}, []string{n[1]}},
		{"newest first", ticketing.ListFilter{Phones: []string{a, b}, Newest: true}, []string{n[3], n[1], n[0]}},
		{"newest first, the limit keeps the latest", ticketing.ListFilter{Phones: []string{a, b}, Newest: true, Limit: 2}, []string{n[3], n[1]}},
		{"by openid", ticketing.ListFilter{OpenID: "oWx1"}, []string{n[2]}},
		{"another openid", ticketing.ListFilter{OpenID: "oWx2"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if g := numbers(got); !slices.Equal(g, tc.want) {
				t.Errorf("List(%+v) = %v, want %v", tc.f, g, tc.want)
			}
		})
	}
}

// EndAgentSessions moves only that agent's epoch on; PutAgent keeps it.
func testAgentSessionEpoch(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	putAgent(t, s, agent("2001"))
	putAgent(t, s, agent("2002"))
	if err := s.EndAgentSessions(ctx, "2001"); err != nil {
		t.Fatal(err)
	}
	putAgent(t, s, agent("2001", "12319"))
	a, err := s.AgentByExt(ctx, "2001")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.AgentByExt(ctx, "2002")
	if err != nil {
		t.Fatal(err)
	}
	if a.SessionEpoch != 1 || b.SessionEpoch != 0 {
		t.Fatalf("epochs %d and %d, want 1 and 0", a.SessionEpoch, b.SessionEpoch)
	}
	if err := s.EndAgentSessions(ctx, "2999"); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("EndAgentSessions of an unknown agent: %v, want ErrNotFound", err)
	}
}
