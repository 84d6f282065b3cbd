package open311_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Another client's key may neither add an update to a request nor reopen
// it: only the key that submitted the request may. Whatever a foreign key
// sends is refused with the Open311 error and leaves the ticket as it was.
func TestUpdatesOnlyByTheSubmittingKey(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, st.open(t))
			other := e.newKey(t, ticketing.RoleOpen311)
			id := postID(t, e, e.form("井盖缺失，很危险"), nil)
			// Closed and evaluated unsatisfied: an OPEN update would reopen it.
			for _, fn := range []func(tk *ticketing.Ticket, now time.Time) error{
				func(tk *ticketing.Ticket, now time.Time) error { return tk.Accept(now, "liaison") },
				func(tk *ticketing.Ticket, now time.Time) error { return handled(tk, now, "已更换") },
				func(tk *ticketing.Ticket, now time.Time) error {
					return tk.Verify(now, "supervisor", true, "核查通过")
				},
				func(tk *ticketing.Ticket, now time.Time) error {
					return tk.Evaluate(now, ticketing.ActorCitizen, ticketing.Evaluation{Satisfaction: ticketing.Unsatisfied})
				},
			} {
				if _, err := e.svc.Act(ctx, id, fn); err != nil {
					t.Fatal(err)
				}
			}
			events := func() int {
				tk, _ := e.svc.Ticket(ctx, id)
				evs, err := e.svc.Events(ctx, tk)
				if err != nil {
					t.Fatal(err)
				}
				return len(evs)
			}
			update := func(key, status string) answer {
				return e.post(t, "servicerequestupdates.json", url.Values{"jurisdiction_id": {jurisdiction}, "api_key": {key},
					"service_request_id": {id}, "status": {status}, "description": {"别人的工单，我来重开"}})
			}
			n := events()
			for _, status := range []string{"OPEN", "REOPEN", "CLOSED"} {
				a := update(other, status)
				if a.status != http.StatusForbidden || !strings.Contains(string(a.body), `"code":403`) ||
					!strings.Contains(string(a.body), "not submitted with this api_key") {
					t.Errorf("foreign key, %s: %d %s; want the Open311 403 error", status, a.status, a.body)
				}
			}
			tk, _ := e.svc.Ticket(ctx, id)
			if tk.Status != ticketing.StatusClosed || events() != n {
				t.Fatalf("a foreign key changed the ticket: %s, %d events (was %d)", tk.Status, events(), n)
			}
			// The same in XML: the error document of the spec.
			a := e.post(t, "servicerequestupdates.xml", url.Values{"jurisdiction_id": {jurisdiction}, "api_key": {other},
				"service_request_id": {id}, "status": {"OPEN"}, "description": {"x"}})
			if a.status != http.StatusForbidden || !strings.Contains(string(a.body), "<errors><error><code>403</code>") {
				t.Errorf("foreign key in XML: %d %s", a.status, a.body)
			}
			// A ticket of another door is nobody's to update here either
			// (and not listed: not found).
			phone, _, err := e.svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: "call-9", Text: "咨询井盖"})
			if err != nil {
				t.Fatal(err)
			}
			a = e.post(t, "servicerequestupdates.json", url.Values{"jurisdiction_id": {jurisdiction}, "api_key": {e.key},
				"service_request_id": {phone.Number}, "status": {"OPEN"}, "description": {"x"}})
			if a.status != http.StatusNotFound {
				t.Errorf("update of a phone ticket: %d %s", a.status, a.body)
			}

			// The submitting key may: its OPEN reopens the ticket.
			if a := update(e.key, "OPEN"); a.status != http.StatusCreated {
				t.Fatalf("own key: %d %s", a.status, a.body)
			}
			if tk, _ := e.svc.Ticket(ctx, id); tk.Status != ticketing.StatusRegistered {
				t.Errorf("the owner's OPEN left the ticket %s, want registered (reopened)", tk.Status)
			}
		})
	}
}

// handled reports the case handled as its department would: the assisting
// departments' parts first (the demo catalogue's rules name some), then
// the lead's result.
func handled(tk *ticketing.Ticket, now time.Time, result string) error {
	for _, d := range tk.Pending() {
		if err := tk.ReportPart(now, "liaison:"+d, d, "已配合处置"); err != nil {
			return err
		}
	}
	return tk.ReportHandled(now, "liaison", result)
}
