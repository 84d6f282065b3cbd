package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/yihao-city/yihao/ticketing"
)

// auditTests returns the conformance tests of the audit log.
func auditTests() []storeTest {
	return []storeTest{
		{"AuditFilters", testAuditFilters},
		{"AuditInvalid", testAuditInvalid},
		{"AuditLimit", testAuditLimit},
	}
}

func appendAudit(t *testing.T, s ticketing.Store, e ticketing.AuditEntry) ticketing.AuditEntry {
	t.Helper()
	if err := s.AppendAudit(context.Background(), &e); err != nil {
		t.Fatalf("AppendAudit(%+v): %v", e, err)
	}
	return e
}

// auditFixture appends entries of three actors on three tickets (and on
// none), one a minute, in an order that is not the order of their times.
func auditFixture(t *testing.T, s ticketing.Store) []ticketing.AuditEntry {
	t.Helper()
	var out []ticketing.AuditEntry
	for i := range 40 {
		e := appendAudit(t, s, ticketing.AuditEntry{
			At:     base.Add(time.Duration(i*7%40) * time.Minute),
			Actor:  []string{"wang.fang", "swj-li", "token:pbx"}[i%3],
			Role:   []ticketing.Role{ticketing.RoleAgent, ticketing.RoleLiaison, ticketing.RoleCTI}[i%3],
			Action: []string{"view", "reveal_phone", "dispatch", "accept"}[i%4],
			Ticket: []string{"26112500000101", "26112500000202", "26112500000303", ""}[i%4],
			Detail: fmt.Sprint("第", i, "次"),
			Source: "10.0.0." + fmt.Sprint(i),
		})
		if e.ID == 0 || (len(out) > 0 && e.ID <= out[len(out)-1].ID) {
			t.Fatalf("entry %d got id %d after %v", i, e.ID, out)
		}
		out = append(out, e)
	}
	return out
}

// inAudit is the filter's meaning, written plainly.
func inAudit(f ticketing.AuditFilter, e ticketing.AuditEntry) bool {
	return (f.Actor == "" || e.Actor == f.Actor) && (f.Ticket == "" || e.Ticket == f.Ticket) &&
		(f.Action == "" || e.Action == f.Action) && (f.From.IsZero() || !e.At.Before(f.From)) &&
		(f.To.IsZero() || e.At.Before(f.To)) && (f.BeforeID == 0 || e.ID < f.BeforeID)
}

var auditOpts = cmp.Options{cmpopts.EquateApproxTime(0), cmpopts.EquateEmpty()}

func testAuditFilters(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	all := auditFixture(t, s)
	filters := map[string]ticketing.AuditFilter{
		"everything":              {},
		"one actor":               {Actor: "swj-li"},
		"an integration":          {Actor: "token:pbx"},
		"one ticket":              {Ticket: "26112500000202"},
		"one action":              {Action: "reveal_phone"},
		"a period":                {From: base.Add(10 * time.Minute), To: base.Add(25 * time.Minute)},
		"from only":               {From: base.Add(30 * time.Minute)},
		"to only":                 {To: base.Add(5 * time.Minute)},
		"before an id":            {BeforeID: all[20].ID},
		"actor, ticket, period":   {Actor: "wang.fang", Ticket: "26112500000101", From: base, To: base.Add(time.Hour)},
		"actor and action":        {Actor: "swj-li", Action: "view"},
		"nobody":                  {Actor: "nobody"},
		"actor names are exact":   {Actor: "Wang.Fang"},
		"ticket numbers exact":    {Ticket: "2611250000010"},
		"an empty period":         {From: base.Add(time.Hour), To: base.Add(2 * time.Hour)},
		"the ticket and an actor": {Ticket: "26112500000303", Actor: "token:pbx"},
	}
	for name, f := range filters {
		t.Run(name, func(t *testing.T) {
			want := []ticketing.AuditEntry{}
			for _, e := range slices.Backward(all) {
				if inAudit(f, e) {
					want = append(want, e)
				}
			}
			got, err := s.Audit(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got, auditOpts); d != "" {
				t.Errorf("one page (-want +got):\n%s", d)
			}
			// The same, three at a time.
			f.Limit = 3
			var paged []ticketing.AuditEntry
			for range 100 {
				page, err := s.Audit(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, page...)
				if len(page) < f.Limit {
					break
				}
				f.BeforeID = page[len(page)-1].ID
			}
			if d := cmp.Diff(want, paged, auditOpts); d != "" {
				t.Errorf("paged (-want +got):\n%s", d)
			}
		})
	}
}

func testAuditInvalid(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	for name, e := range map[string]ticketing.AuditEntry{
		"no time":   {Actor: "wang.fang", Action: "view"},
		"no actor":  {At: base, Action: "view"},
		"no action": {At: base, Actor: "wang.fang"},
		"blank":     {At: base, Actor: "  ", Action: "view"},
	} {
		if err := s.AppendAudit(ctx, &e); !errors.Is(err, ticketing.ErrInvalid) || e.ID != 0 {
			t.Errorf("%s: AppendAudit = %v, id %d; want ErrInvalid and no id", name, err, e.ID)
		}
	}
	if got, err := s.Audit(ctx, ticketing.AuditFilter{}); err != nil || len(got) != 0 {
		t.Errorf("invalid entries were stored: %v, %v", got, err)
	}
}

func testAuditLimit(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	for i := range ticketing.DefaultAuditLimit + 1 {
		appendAudit(t, s, ticketing.AuditEntry{At: base.Add(time.Duration(i) * time.Second), Actor: "a", Action: "view"})
	}
	for _, tc := range []struct{ limit, want int }{
		{0, ticketing.DefaultAuditLimit},
		{-1, ticketing.DefaultAuditLimit},
		{1, 1},
		{ticketing.MaxAuditLimit * 10, ticketing.DefaultAuditLimit + 1},
	} {
		got, err := s.Audit(ctx, ticketing.AuditFilter{Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Errorf("Limit %d: %d entries, want %d", tc.limit, len(got), tc.want)
		}
	}
}
