package open311_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/yihao-city/yihao/channels/open311"
	"github.com/yihao-city/yihao/ticketing"
)

// Every JSON answer validates against our GeoReport v2 schemas (and the
// community's when present), and the XML of the same call parses to the
// same records.
func TestJSONSchemasAndXML(t *testing.T) {
	sch := loadSchemas(t)
	// The community's schemas refuse what they should too (so a pass against them means something).
	for _, bad := range []string{`[{"service_request_id":1,"status":"open","service_code":"x","requested_datetime":"2026-11-25T09:30:00+08:00"}]`,
		`[{"service_request_id":"1","status":"pending","service_code":"x","requested_datetime":"2026-11-25T09:30:00+08:00"}]`,
		`[{"service_request_id":"1","status":"open","service_code":"x","requested_datetime":"yesterday"}]`} {
		v, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if sch.requests.ours.Validate(v) == nil {
			t.Errorf("our requests.json accepts %s", bad)
		}
		if sch.upstream && sch.requests.upstream.Validate(v) == nil {
			t.Errorf("the community's requests.json accepts %s", bad)
		}
	}
	e := newEnv(t, sqliteStore(t))

	// POST answers.
	a := e.post(t, "requests.json", e.form("井盖缺失，夜里很危险"))
	if a.status != http.StatusCreated {
		t.Fatalf("POST requests.json: %d %s", a.status, a.body)
	}
	validate(t, sch.postAnswers, "POST requests.json", a.body)
	var posted []request
	decodeJSON(t, a, &posted)
	ax := e.post(t, "requests.xml", e.form("路灯附近井盖破损"))
	var postedX requestsXML
	decodeXML(t, ax, &postedX)
	if len(posted) != 1 || posted[0].ID == "" || posted[0].Token == "" || len(postedX.Requests) != 1 || postedX.Requests[0].ID == "" {
		t.Fatalf("POST answers: %+v / %+v", posted, postedX)
	}
	id := posted[0].ID
	ids := id + "," + postedX.Requests[0].ID

	// An update, so servicerequestupdates has something to list.
	if _, err := e.svc.Act(context.Background(), id, func(tk *ticketing.Ticket, now time.Time) error { return tk.Accept(now, "liaison") }); err != nil {
		t.Fatal(err)
	}

	q := func(kv ...string) url.Values {
		v := juris()
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	type check struct {
		path   string
		q      url.Values
		schema func([]byte)
		json   any // pointer to decode JSON into
		xml    any // pointer to decode XML into
		same   func() bool
	}
	var (
		svcs    []service
		svcsX   servicesXML
		def     definition
		defX    definition
		reqs    []request
		reqsX   requestsXML
		one     []request
		oneX    requestsXML
		single  []request
		singleX requestsXML
		toks    []request
		toksX   requestsXML
		ups     []update
		upsX    updatesXML
		disc    discovery
		discX   discovery
		errs    []apiError
		errsX   errorsXML
	)
	checks := []check{
		{"services", q(), func(b []byte) { validate(t, sch.services, "services.json", b) }, &svcs, &svcsX,
			func() bool { return reflect.DeepEqual(svcs, svcsX.Services) }},
		{"services/0103", q(), func(b []byte) { validate(t, sch.definition, "services/0103.json", b) }, &def, &defX,
			func() bool { defX.XMLName = def.XMLName; return reflect.DeepEqual(def, defX) }},
		{"requests", q("service_request_id", ids), func(b []byte) { validate(t, sch.requests, "requests.json", b) }, &reqs, &reqsX,
			func() bool { return reflect.DeepEqual(reqs, reqsX.Requests) }},
		{"requests/" + id, q(), func(b []byte) { validate(t, sch.requests, "requests/{id}.json", b) }, &one, &oneX,
			func() bool { return reflect.DeepEqual(one, oneX.Requests) }},
		{"request/" + id, q(), func(b []byte) { validate(t, sch.requests, "request/{id}.json", b) }, &single, &singleX,
			func() bool { return reflect.DeepEqual(single, singleX.Requests) }},
		{"tokens/" + posted[0].Token, q(), func(b []byte) { validate(t, sch.tokens, "tokens/{token}.json", b) }, &toks, &toksX,
			func() bool { return reflect.DeepEqual(toks, toksX.Requests) }},
		{"servicerequestupdates", q(), nil, &ups, &upsX, func() bool { return reflect.DeepEqual(ups, upsX.Updates) }},
		{"discovery", q(), nil, &disc, &discX, func() bool { discX.XMLName = disc.XMLName; return reflect.DeepEqual(disc, discX) }},
		{"requests/000000000000", q(), func(b []byte) { validate(t, sch.errors, "requests/{unknown}.json", b) }, &errs, &errsX, func() bool { return reflect.DeepEqual(errs, errsX.Errors) }},
	}
	for _, c := range checks {
		aj := e.get(t, c.path+".json", c.q)
		axml := e.get(t, c.path+".xml", c.q)
		aplain := e.get(t, c.path, c.q)
		if aj.status != axml.status || aj.status != aplain.status {
			t.Errorf("%s: status JSON %d, XML %d, plain %d", c.path, aj.status, axml.status, aplain.status)
		}
		if string(aplain.body) != string(axml.body) {
			t.Errorf("%s without an extension is not the XML answer", c.path)
		}
		if c.schema != nil {
			c.schema(aj.body)
		}
		decodeJSON(t, aj, c.json)
		decodeXML(t, axml, c.xml)
		if !c.same() {
			t.Errorf("%s: XML and JSON differ:\n%s\n%s", c.path, aj.body, axml.body)
		}
	}

	// What the records say.
	if len(svcs) < 10 || svcs[0].Type != "realtime" {
		t.Errorf("services: %+v", svcs)
	}
	for _, s := range svcs {
		if s.Code == "0103" && (!s.Metadata || s.Group != "公用设施" || !strings.Contains(s.Keywords, "井盖")) {
			t.Errorf("service 0103 = %+v", s)
		}
		if s.Code == "0501" && s.Metadata {
			t.Errorf("0501 has no attributes but metadata is true")
		}
	}
	if len(def.Attributes) != 2 || def.Attributes[0].Code != "cover_state" || !def.Attributes[0].Required ||
		def.Attributes[0].Datatype != "singlevaluelist" || len(def.Attributes[0].Values) != 4 || def.Attributes[1].Datatype != "text" {
		t.Errorf("definition of 0103 = %+v", def)
	}
	if len(reqs) != 2 || reqs[0].ID != id {
		t.Fatalf("requests by id = %+v", reqs)
	}
	r := reqs[0]
	if r.Status != "open" || r.ServiceCode != "0103" || r.ServiceName != "污水井盖" || r.Description != "井盖缺失，夜里很危险" ||
		r.Agency != "市水务局" || r.Expected == "" || r.Lat == nil || *r.Lat != 39.9042 || r.MediaURL != "https://photos.example.com/p/123.jpg" ||
		r.Address != "东华门街道南池子大街" || !strings.HasSuffix(r.Requested, "+08:00") {
		t.Errorf("request = %+v", r)
	}
	if strings.Contains(string(one[0].Description), "zhang@example.com") || strings.Contains(r.Description, "Open311") {
		t.Errorf("the listing shows the private trailer: %q", r.Description)
	}
	if len(toks) != 1 || toks[0].ID != id {
		t.Errorf("token = %+v", toks)
	}
	var statuses []string
	for _, u := range ups {
		if u.RequestID == id {
			statuses = append(statuses, u.Status)
		}
		if u.UpdateID == "" || u.Updated == "" || u.Description == "" || u.Status == "" {
			t.Errorf("update with empty fields: %+v", u)
		}
	}
	if want := []string{"OPEN", "ACTION_SCHEDULED", "IN_PROGRESS"}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("updates of %s: %v, want %v", id, statuses, want)
	}
	if len(disc.Endpoints) != 1 || disc.Endpoints[0].Specification != "http://wiki.open311.org/GeoReport_v2" ||
		!strings.HasSuffix(disc.Endpoints[0].URL, "/open311/v2") || len(disc.Endpoints[0].Formats) != 2 || disc.Changeset == "" {
		t.Errorf("discovery = %+v", disc)
	}
	if len(errs) != 1 || errs[0].Code != 404 || errs[0].Description == "" {
		t.Errorf("error = %+v", errs)
	}
}

// fmsClient talks the way FixMyStreet's Open311 module does: XML only,
// jurisdiction_id on every call, api_key on POST, tokens polled.
type fmsClient struct {
	t   *testing.T
	e   *env
	key string
}

func (c *fmsClient) get(path string, q url.Values, v any) {
	c.t.Helper()
	if q == nil {
		q = url.Values{}
	}
	q.Set("jurisdiction_id", jurisdiction)
	a := c.e.get(c.t, path+".xml", q)
	if a.status != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, a.status, a.body)
	}
	decodeXML(c.t, a, v)
}

func (c *fmsClient) post(path string, f url.Values, v any) {
	c.t.Helper()
	f.Set("jurisdiction_id", jurisdiction)
	f.Set("api_key", c.key)
	a := c.e.post(c.t, path+".xml", f)
	if a.status != http.StatusOK && a.status != http.StatusCreated {
		c.t.Fatalf("POST %s: %d %s", path, a.status, a.body)
	}
	decodeXML(c.t, a, v)
}

func (c *fmsClient) request(id string) request {
	c.t.Helper()
	var rs requestsXML
	c.get("requests/"+id, nil, &rs)
	if len(rs.Requests) != 1 {
		c.t.Fatalf("requests/%s: %d records", id, len(rs.Requests))
	}
	return rs.Requests[0]
}

func (c *fmsClient) updates(since time.Time) []update {
	c.t.Helper()
	var us updatesXML
	c.get("servicerequestupdates", url.Values{"start_date": {since.Format(time.RFC3339)}, "end_date": {time.Now().Add(time.Minute).Format(time.RFC3339)}}, &us)
	return us.Updates
}

// report → status → update → closed, and a reopen after an unsatisfied evaluation.
func TestFixMyStreetClient(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			e := newEnv(t, st.open(t))
			c := &fmsClient{t: t, e: e, key: e.key}
			since := time.Now().Add(-time.Minute)

			var svcs servicesXML
			c.get("services", nil, &svcs)
			var def definition
			c.get("services/0103", nil, &def)
			f := url.Values{"service_code": {"0103"}, "lat": {"39.9"}, "long": {"116.4"}, "description": {"小区门口污水井盖缺失"},
				"first_name": {"Ann"}, "last_name": {"Lee"}, "email": {"ann@example.com"}}
			for _, a := range def.Attributes {
				if a.Required {
					f.Set("attribute["+a.Code+"]", a.Values[0].Key)
				}
			}
			var created requestsXML
			c.post("requests", f, &created)
			id := created.Requests[0].ID
			if tok := created.Requests[0].Token; tok != "" {
				// Poll the token as FixMyStreet does until it names the request.
				var resolved string
				for i := 0; i < 20 && resolved == ""; i++ {
					var tr requestsXML
					c.get("tokens/"+tok, nil, &tr)
					if len(tr.Requests) == 1 {
						resolved = tr.Requests[0].ID
					}
				}
				if id != "" && resolved != id {
					t.Fatalf("token %s resolves to %q, POST said %q", tok, resolved, id)
				}
				id = resolved
			}
			if r := c.request(id); r.Status != "open" || r.Agency == "" {
				t.Fatalf("after the report: %+v", r)
			}

			act := func(fn func(tk *ticketing.Ticket, now time.Time) error) {
				t.Helper()
				if _, err := e.svc.Act(ctx, id, fn); err != nil {
					t.Fatal(err)
				}
			}
			act(func(tk *ticketing.Ticket, now time.Time) error { return tk.Accept(now, "liaison") })
			act(func(tk *ticketing.Ticket, now time.Time) error {
				return handled(tk, now, "已更换新井盖")
			})

			// The citizen adds an update from the app.
			var posted postedUpdatesXML
			c.post("servicerequestupdates", url.Values{"service_request_id": {id}, "status": {"OPEN"}, "description": {"井盖换了但没有固定好"},
				"update_id": {"fms-77"}, "updated_datetime": {time.Now().Format(time.RFC3339)}, "first_name": {"Ann"}, "email": {"ann@example.com"}}, &posted)
			if len(posted.Updates) != 1 || !strings.HasPrefix(posted.Updates[0].UpdateID, id+"-") {
				t.Fatalf("posted update: %+v", posted)
			}
			var again postedUpdatesXML
			c.post("servicerequestupdates", url.Values{"service_request_id": {id}, "status": {"OPEN"}, "description": {"井盖换了但没有固定好"}, "update_id": {"fms-77"}}, &again)
			if again.Updates[0].UpdateID != posted.Updates[0].UpdateID {
				t.Errorf("the same update_id recorded twice: %s, %s", posted.Updates[0].UpdateID, again.Updates[0].UpdateID)
			}
			if r := c.request(id); r.Status != "open" || r.StatusNotes != "市民补充：井盖换了但没有固定好" {
				t.Errorf("after the update: %+v", r)
			}

			act(func(tk *ticketing.Ticket, now time.Time) error {
				return tk.Verify(now, "supervisor", true, "核查通过")
			})
			if r := c.request(id); r.Status != "closed" || r.Expected != "" {
				t.Errorf("after closing: %+v", r)
			}
			var statuses []string
			for _, u := range c.updates(since) {
				if u.RequestID == id {
					statuses = append(statuses, u.Status)
					if strings.Contains(u.Description, "没有固定好") {
						t.Errorf("the client's own update came back: %+v", u)
					}
				}
			}
			if want := []string{"OPEN", "ACTION_SCHEDULED", "IN_PROGRESS", "FIXED", "CLOSED"}; !reflect.DeepEqual(statuses, want) {
				t.Errorf("update statuses %v, want %v", statuses, want)
			}

			// CLOSED from the citizen, or OPEN without an unsatisfied evaluation: a note only.
			c.post("servicerequestupdates", url.Values{"service_request_id": {id}, "status": {"OPEN"}, "description": {"还是不行"}}, &posted)
			if r := c.request(id); r.Status != "closed" {
				t.Errorf("OPEN without an evaluation reopened the ticket")
			}
			act(func(tk *ticketing.Ticket, now time.Time) error {
				return tk.Evaluate(now, ticketing.ActorCitizen, ticketing.Evaluation{Satisfaction: ticketing.Unsatisfied})
			})
			c.post("servicerequestupdates", url.Values{"service_request_id": {id}, "status": {"OPEN"}, "description": {"井盖仍然松动"}}, &posted)
			tk, err := e.svc.Ticket(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if tk.Status != ticketing.StatusRegistered || c.request(id).Status != "open" {
				t.Errorf("after an unsatisfied evaluation OPEN should reopen; status %s", tk.Status)
			}
		})
	}
}

// Bad input answers the right status and error body and stores nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t, sqliteStore(t))
	long := strings.Repeat("井", ticketing.MaxTextRunes+1)
	without := func(keys ...string) url.Values {
		f := e.form("井盖缺失")
		for _, k := range keys {
			f.Del(k)
		}
		return f
	}
	with := func(kv ...string) url.Values {
		f := e.form("井盖缺失")
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	other := e.newKey(t, ticketing.RoleAgent)
	for _, tc := range []struct {
		name   string
		get    string // path for a GET; a POST of form to requests otherwise
		form   url.Values
		status int
		want   string // in the description
	}{
		{"missing service_code", "", without("service_code"), 400, "service_code: is required"},
		{"empty service_code", "", with("service_code", "  "), 400, "service_code: is required"},
		{"unknown service", "", with("service_code", "9999"), 400, `"9999" is not a service`},
		{"no location", "", without("lat", "long", "address_string"), 400, "give lat and long, address_string or address_id"},
		{"empty location", "", with("lat", "", "long", "", "address_string", ""), 400, "give lat and long"},
		{"lat without long", "", without("long"), 400, "lat and long go together"},
		{"required attribute missing", "", without("attribute[cover_state]"), 400, "attribute[cover_state]: is required"},
		{"attribute not a listed value", "", with("attribute[cover_state]", "gone"), 400, "is not one of missing"},
		{"description over 4000", "", with("description", long), 400, "the limit is 4000"},
		{"missing description", "", without("description"), 400, "description: is required"},
		{"HTML in description", "", with("description", `井盖<script>alert(1)</script>`), 400, "not HTML"},
		{"HTML tag in description", "", with("description", `井盖 <b>缺失</b>`), 400, "not HTML"},
		{"wrong key", "", with("api_key", "yh_wrong"), 403, "api_key"},
		{"missing key", "", without("api_key"), 403, "api_key"},
		{"not an Open311 key", "", with("api_key", other), 403, "not an Open311 key"},
		{"missing jurisdiction", "", without("jurisdiction_id"), 400, "jurisdiction_id: is required"},
		{"unknown jurisdiction", "", with("jurisdiction_id", "elsewhere"), 404, "unknown jurisdiction"},
		{"bad phone", "", with("phone", "call me"), 400, "contact.phone"},
		{"bad media_url", "", with("media_url", "javascript:alert(1)"), 400, "media_url"},
		{"end before start", "requests?jurisdiction_id=" + jurisdiction + "&start_date=2026-11-20T00:00:00%2B08:00&end_date=2026-11-01T00:00:00%2B08:00", nil, 400, "end_date: is before start_date"},
		{"range over 90 days", "requests?jurisdiction_id=" + jurisdiction + "&start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", nil, 400, "at most 90 days"},
		{"date without zone", "requests?jurisdiction_id=" + jurisdiction + "&start_date=2026-01-01T00:00:00", nil, 400, "with a zone"},
		{"bad status", "requests?jurisdiction_id=" + jurisdiction + "&status=pending", nil, 400, "status"},
		{"updates bad range", "servicerequestupdates?jurisdiction_id=" + jurisdiction + "&start_date=2026-11-20T00:00:00Z&end_date=2026-11-01T00:00:00Z", nil, 400, "before start_date"},
		{"unknown request", "requests/000000000000?jurisdiction_id=" + jurisdiction, nil, 404, "no service request"},
		{"unknown service definition", "services/9999?jurisdiction_id=" + jurisdiction, nil, 404, "no service"},
		{"unknown endpoint", "nothing?jurisdiction_id=" + jurisdiction, nil, 404, "no such endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.count(t)
			for _, ext := range []string{".xml", ".json"} {
				var a answer
				if tc.get != "" {
					path, query, _ := strings.Cut(tc.get, "?")
					q, _ := url.ParseQuery(query)
					a = e.get(t, path+ext, q)
				} else {
					a = e.post(t, "requests"+ext, tc.form)
				}
				if a.status != tc.status {
					t.Errorf("%s: status %d, want %d: %s", ext, a.status, tc.status, a.body)
				}
				var errs []apiError
				if ext == ".xml" {
					var x errorsXML
					decodeXML(t, a, &x)
					errs = x.Errors
				} else {
					decodeJSON(t, a, &errs)
				}
				if len(errs) != 1 || errs[0].Code != tc.status || !strings.Contains(errs[0].Description, tc.want) {
					t.Errorf("%s: errors %+v, want code %d and %q", ext, errs, tc.status, tc.want)
				}
			}
			if after := e.count(t); after != before {
				t.Errorf("%d tickets stored by a refused request", after-before)
			}
		})
	}
	// And a POST of an update with a wrong key stores no note.
	id := postID(t, e, e.form("井盖缺失"), nil)
	tk, _ := e.svc.Ticket(context.Background(), id)
	evs, _ := e.svc.Events(context.Background(), tk)
	a := e.post(t, "servicerequestupdates.xml", url.Values{"jurisdiction_id": {jurisdiction}, "api_key": {"nope"}, "service_request_id": {id}, "status": {"OPEN"}, "description": {"x"}})
	evs2, _ := e.svc.Events(context.Background(), tk)
	if a.status != 403 || len(evs2) != len(evs) {
		t.Errorf("update with a wrong key: %d, events %d → %d", a.status, len(evs), len(evs2))
	}
}

func postID(t testing.TB, e *env, f url.Values, header []string) string {
	t.Helper()
	a := e.post(t, "requests.json", f, header...)
	if a.status != http.StatusCreated && a.status != http.StatusOK {
		t.Fatalf("POST: %d %s", a.status, a.body)
	}
	var rs []request
	decodeJSON(t, a, &rs)
	return rs[0].ID
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t, sqliteStore(t))
	f := e.form("井盖缺失，同一客户端重发")
	a1 := e.post(t, "requests.json", f, "Idempotency-Key", "fms-1001")
	a2 := e.post(t, "requests.json", f, "Idempotency-Key", "fms-1001")
	if a1.status != 201 || a2.status != 200 || string(a1.body) != string(a2.body) {
		t.Errorf("replay: %d %s / %d %s", a1.status, a1.body, a2.status, a2.body)
	}
	changed := e.form("井盖缺失，内容不同")
	if a := e.post(t, "requests.json", changed, "Idempotency-Key", "fms-1001"); a.status != 409 {
		t.Errorf("same key, other report: %d %s", a.status, a.body)
	}
	// attribute[client_id] works for clients that only send form fields.
	g := e.form("井盖缺失，表单键")
	g.Set("attribute[client_id]", "fms-2002")
	id1, id2 := postID(t, e, g, nil), postID(t, e, g, nil)
	if id1 != id2 {
		t.Errorf("attribute[client_id] replay gave %s and %s", id1, id2)
	}
	// Keys are scoped to the api_key: another client's same key is another report.
	g.Set("api_key", e.newKey(t, ticketing.RoleOpen311))
	if id3 := postID(t, e, g, nil); id3 == id1 {
		t.Errorf("another client's key %s reached the first client's report", id3)
	}
	if a := e.post(t, "requests.json", f, "Idempotency-Key", "has space"); a.status != 400 {
		t.Errorf("a bad key: %d", a.status)
	}
	// Without a key every POST is a new report.
	if first, second := postID(t, e, e.form("无键"), nil), postID(t, e, e.form("无键"), nil); first == second {
		t.Errorf("two POSTs without a key made one report")
	}
}

// GET requests lists the last 90 days by default, only Open311 tickets,
// filtered by service_code and status.
func TestListing(t *testing.T) {
	e := newEnv(t, sqliteStore(t))
	ctx := context.Background()
	old, _, err := e.svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelOpen311, Text: "井盖缺失（旧）", Category: "0103",
		Address: "旧地址", ReceivedAt: time.Now().Add(-100 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	web, _, err := e.svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, Text: "井盖缺失（网页）", Category: "0103"})
	if err != nil {
		t.Fatal(err)
	}
	lamp := e.form("路灯不亮")
	lamp.Set("service_code", "0210")
	lampID := postID(t, e, lamp, nil)
	coverID := postID(t, e, e.form("井盖缺失"), nil)
	for _, fn := range []func(tk *ticketing.Ticket, now time.Time) error{
		func(tk *ticketing.Ticket, now time.Time) error { return tk.Accept(now, "liaison") },
		func(tk *ticketing.Ticket, now time.Time) error { return handled(tk, now, "已修复") },
		func(tk *ticketing.Ticket, now time.Time) error { return tk.Verify(now, "supervisor", true, "") },
	} {
		if _, err := e.svc.Act(ctx, lampID, fn); err != nil {
			t.Fatal(err)
		}
	}
	list := func(kv ...string) []string {
		t.Helper()
		q := juris()
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		a := e.get(t, "requests.json", q)
		if a.status != 200 {
			t.Fatalf("GET requests %v: %d %s", q, a.status, a.body)
		}
		var rs []request
		decodeJSON(t, a, &rs)
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"default", list(), []string{lampID, coverID}},
		{"service_code", list("service_code", "0103"), []string{coverID}},
		{"service codes", list("service_code", "0103,0210"), []string{lampID, coverID}},
		{"open", list("status", "open"), []string{coverID}},
		{"closed", list("status", "closed"), []string{lampID}},
		{"both", list("status", "open,closed"), []string{lampID, coverID}},
		{"ids ignore dates", list("service_request_id", old.Number+","+web.Number+","+coverID), []string{old.Number, coverID}},
		{"old window", list("start_date", time.Now().Add(-101*24*time.Hour).Format(time.RFC3339)), []string{old.Number}},
		{"end only", list("end_date", time.Now().Add(-99*24*time.Hour).Format(time.RFC3339)), []string{old.Number}},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if a := e.get(t, "requests/"+web.Number+".json", juris()); a.status != 404 {
		t.Errorf("a web ticket through Open311: %d", a.status)
	}
}

// BenchmarkPostRequest: go test -run '^$' -bench PostRequest -benchtime 3000x ./channels/open311/
func BenchmarkPostRequest(b *testing.B) {
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			e := newEnv(b, st.open(b))
			f := e.form("")
			var n atomic.Int64
			b.SetParallelism(4) // 8 clients on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					g := url.Values{}
					for k, v := range f {
						g[k] = v
					}
					g.Set("description", "井盖缺失，压测第"+itoa64(n.Add(1))+"条")
					a := e.post(b, "requests.xml", g)
					if a.status != http.StatusCreated {
						b.Errorf("POST: %d %s", a.status, a.body)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

func itoa64(n int64) string { return strconvFormat(n) }

var _ = open311.ExtendedStatus
