package desks_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/yihao-city/yihao/channels/field"
	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/open311"
	"github.com/yihao-city/yihao/channels/webform"
	"github.com/yihao-city/yihao/desks"
	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// The access policy, door by door: every route of every door that serves
// tickets (the desks, the web API, Open311, the call log) is called by
// every kind of caller, for a ticket of the caller's own department, one
// it assists and another's, and by the dispatchers of the ticket's street
// and district centres and of another street's. A route that any door registers and this table
// does not know fails the test, so a new route cannot arrive without an
// expected answer for each caller.

// Callers of the table.
const (
	cNone    = "no credentials"
	cAdmin   = "admin"
	cDisp    = "dispatcher"
	cAgent   = "agent"
	cOwn     = "liaison, own department"
	cAssist  = "liaison, assisting department"
	cOther   = "liaison, other department"
	cNoDept  = "liaison token without department"
	cOpen311 = "open311, another client"
	cOwner   = "open311, submitting client"
	cCTI     = "cti"
	// The centres of the levels (属地管理): the ticket lies in street
	// 110101001 of district 110101, and its street holds it.
	cStreet      = "dispatcher, the ticket's street"
	cDistrict    = "dispatcher, the ticket's district"
	cOtherStreet = "dispatcher, another street"
	// The grid's supervisors: of the community the ticket lies in, and of
	// another street.
	cSupMine  = "supervisor, the ticket's community"
	cSupOther = "supervisor, another street"
)

var callers = []string{cNone, cAdmin, cDisp, cAgent, cOwn, cAssist, cOther, cNoDept, cOpen311, cOwner, cCTI,
	cStreet, cDistrict, cOtherStreet, cSupMine, cSupOther}

// fieldTypes and fieldGrid stand in for the catalogue's field types and
// the grid: every report lies in the table's ticket's cell.
type fieldTypes struct{}

func (fieldTypes) FieldType(code string) (field.Type, error) {
	if code != "roads" {
		return field.Type{}, ticketing.Invalid("category", "%q is not a field report type", code)
	}
	return field.Type{Code: "roads", Name: "道路破损", Group: "道路"}, nil
}

func (fieldTypes) FieldTypes() []field.Type {
	t, _ := fieldTypes{}.FieldType("roads")
	return []field.Type{t}
}

type fieldGrid struct{}

func (fieldGrid) Inside(float64, float64) bool                  { return true }
func (fieldGrid) Place(float64, float64) (ticketing.Area, bool) { return ticketArea, true }

// ticketArea is where the table's reports lie.
var ticketArea = ticketing.Area{District: "110101", Street: "110101001", Community: "110101001001", Grid: "11010100100101"}

// cell is what one caller gets from one route: the status, whether the
// body may hold the ticket's text (sees) and the reporter's full phone.
type cell struct {
	code  int
	sees  bool
	phone bool
}

// assistRouter is the desks' test router that also names the 城管局 (cg)
// as assisting department (协办) of every report mentioning 协办.
type assistRouter struct{ router }

func (r assistRouter) Route(ctx context.Context, rep ticketing.Report) (ticketing.Assignment, error) {
	a, err := r.router.Route(ctx, rep)
	if err == nil && strings.Contains(rep.Text, "协办") {
		a.Assisting = []string{"cg"}
	}
	a.Area, a.Centre = ticketArea, ticketArea.Street
	a.Confirm = strings.Contains(rep.Text, "待核实")
	return a, err
}

// Clocks give the supervisors two hours for a 核实.
func (assistRouter) Clocks() ticketing.Clocks { return ticketing.Clocks{Confirm: 2 * time.Hour} }

// doors is every ticket door on one engine over one store.
type doors struct {
	*env
	patterns []string
	secrets  map[string]string
	ticket   *ticketing.Ticket // roads (jt leads, cg assists), with a photo
	task     *ticketing.Ticket // a citizen's report waiting for its 核实 in the ticket's cell
	o311     string            // an Open311 request of the cOwner client
	track    string            // ticket's tracking token
	photo    string
	callID   string
}

const (
	authzText   = "协办：建设路人行道破损，老人摔倒"
	authzName   = "赵先生"
	authzPhone  = "+8613912345678"
	authzEmail  = "zhao@example.com"
	o311Text    = "污水井盖缺失很危险"
	o311Phone   = "13700001111"
	callerPhone = "+8613600002222"
)

// rawExec runs SQL on the store's database behind its back, to put in
// rows the current code would refuse (a token from before the rules).
type rawExec func(t *testing.T, query string, args ...any)

func newDoors(t *testing.T, st ticketing.Store, raw rawExec) *doors {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	photos, err := media.NewDisk(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatal(err)
	}
	bus := pubsub.NewMemory()
	svc := ticketing.NewService(st, assistRouter{})
	kb := knowledgeOf(t, st)
	cfg := desks.Config{SessionKey: []byte(sessionKey), InsecureCookies: true, Location: time.UTC, Photos: photos,
		Departments: func() []desks.Department { return departments },
		Categories:  func() []desks.Category { return categories }, Knowledge: kb}
	ds, err := desks.New(cfg, st, svc, bus, log)
	if err != nil {
		t.Fatal(err)
	}
	web, err := webform.New(webform.Config{City: "测试市", Knowledge: kb}, svc, photos, st.(webform.Tokens), nil, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	o311, err := open311.New(open311.Config{Location: time.UTC, Services: []open311.Service{{Code: "roads", Name: "道路破损"}}}, svc, st.(open311.Records), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := hotline.New(hotline.Config{}, st.(hotline.Store), log, nil)
	fd, err := field.New(field.Config{Location: time.UTC}, field.Parts{Tickets: svc, Cases: svc, Queues: st, Tokens: st, Patrol: st,
		Types: fieldTypes{}, Grid: fieldGrid{}, Photos: photos, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux, err := httpapi.New(httpapi.Config{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ds.Register(mux)
	calls.Register(mux)
	o311.Register(mux)
	web.Register(mux)
	fd.Register(mux)
	mux.Fallback(o311.Base()+"/", o311.NotFound)
	mux.Fallback("/", web.NotFound()...)

	d := &doors{env: &env{store: st, svc: svc, bus: bus}, secrets: map[string]string{}}
	d.srv = httptest.NewServer(mux)
	t.Cleanup(d.srv.Close)
	d.addUsers(t)
	d.putUser(t, &ticketing.User{Name: "li.cg", DisplayName: "测试li.cg", Role: ticketing.RoleLiaison, Department: "cg"})
	for name, area := range map[string]string{"disp.street": ticketArea.Street, "disp.district": ticketArea.District, "disp.other": "110101002"} {
		d.putUser(t, &ticketing.User{Name: name, Role: ticketing.RoleDispatcher, Area: area})
	}
	for name, area := range map[string]string{"sup.mine": ticketArea.Community, "sup.other": "110101002"} {
		d.putUser(t, &ticketing.User{Name: name, Role: ticketing.RoleSupervisor, Area: area})
	}
	d.patterns = slices.Concat(ds.Patterns(), web.Patterns(), o311.Patterns(), calls.Patterns(), fd.Patterns())

	// Every caller has a bearer token: staff ones act for users.
	for c, user := range map[string]string{cAdmin: "admin", cDisp: "disp", cAgent: "agent", cOwn: "li.jt", cAssist: "li.cg", cOther: "li.sw",
		cStreet: "disp.street", cDistrict: "disp.district", cOtherStreet: "disp.other", cSupMine: "sup.mine", cSupOther: "sup.other"} {
		u, err := st.UserByName(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		secret, tok, err := ticketing.NewUserToken(u, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		d.secrets[c] = secret
	}
	for c, role := range map[string]ticketing.Role{cOpen311: ticketing.RoleOpen311, cOwner: ticketing.RoleOpen311, cCTI: ticketing.RoleCTI} {
		secret, tok, err := ticketing.NewToken(role, strings.ReplaceAll(c, " ", ""), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		d.secrets[c] = secret
	}
	// A liaison token stored before tokens carried departments: the store
	// refuses to make one now, so it goes in by SQL.
	legacy := ticketing.TokenPrefix + "LEGACYLIAISONWITHOUTDEPARTMENT0123456789"
	raw(t, `INSERT INTO api_tokens (name, role, hash, created_at, department) VALUES ('legacy', 'liaison', $1, $2, '')`,
		ticketing.HashToken(legacy), time.Now())
	d.secrets[cNoDept] = legacy

	// The ticket: a citizen's web report with a photo, dispatched to jt
	// (交通运输局) with cg assisting.
	p, err := photos.Prepare(bytes.NewReader(photoJPEG(t, 90)))
	if err != nil {
		t.Fatal(err)
	}
	att, err := photos.Save(p)
	if err != nil {
		t.Fatal(err)
	}
	d.ticket, _, err = svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "authz-1", Category: "roads",
		Text: authzText, Address: "建设路8号", Attachments: []ticketing.Attachment{att},
		Reporter: ticketing.Contact{Name: authzName, Phone: authzPhone, Email: authzEmail}})
	if err != nil {
		t.Fatal(err)
	}
	if d.ticket.Department != "jt" || !slices.Equal(d.ticket.Assisting, []string{"cg"}) {
		t.Fatalf("ticket routed to %q assisted by %v", d.ticket.Department, d.ticket.Assisting)
	}
	d.track, d.photo = d.ticket.TrackToken, att.ID
	if d.task, _, err = svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "authz-task",
		Text: "待核实：" + authzText, Reporter: ticketing.Contact{Phone: authzPhone}}); err != nil || d.task.Task != ticketing.TaskConfirm {
		t.Fatalf("the task's report: %+v %v", d.task, err)
	}

	// An Open311 request of the owner client, with a phone of its own.
	f := url.Values{"api_key": {d.secrets[cOwner]}, "service_code": {"roads"}, "lat": {"39.9"}, "long": {"116.4"},
		"description": {o311Text}, "phone": {o311Phone}}
	r := d.anonymous().do(t, "POST", "/open311/v2/requests.json", strings.NewReader(f.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	var created []struct {
		ID string `json:"service_request_id"`
	}
	if r.code != http.StatusCreated || json.Unmarshal([]byte(r.body), &created) != nil || len(created) != 1 {
		t.Fatalf("Open311 request: %d %s", r.code, r.body)
	}
	d.o311 = created[0].ID

	// A call from the reporter's phone in the call log.
	d.callID = "authz-call-1"
	ev := fmt.Sprintf(`{"event":"newCall","callId":%q,"from":%q,"to":"12345","direction":"in"}`, d.callID, callerPhone)
	if r := d.anonymous().do(t, "POST", "/api/v1/cti/"+d.secrets[cCTI], strings.NewReader(ev), "Content-Type", "application/json"); r.code != http.StatusOK {
		t.Fatalf("CTI event: %d %s", r.code, r.body)
	}
	return d
}

// route is one row of the table: a route pattern, the request made for it,
// and what each caller must get.
type route struct {
	pattern string
	req     func(d *doors, c string) *http.Request
	want    func(c string) cell
}

func (d *doors) request(method, path string, body io.Reader, contentType string) *http.Request {
	req, _ := http.NewRequest(method, d.srv.URL+path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// bearer is a request with the caller's bearer token.
func bearer(method, path string, body func(d *doors) (io.Reader, string)) func(d *doors, c string) *http.Request {
	return func(d *doors, c string) *http.Request {
		var b io.Reader
		ct := ""
		if body != nil {
			b, ct = body(d)
		}
		req := d.request(method, strings.NewReplacer("{number}", d.ticket.Number, "{task}", d.task.Number, "{track}", d.track, "{photo}", d.photo,
			"{o311}", d.o311, "{call}", d.callID).Replace(path), b, ct)
		if s := d.secrets[c]; s != "" {
			req.Header.Set("Authorization", "Bearer "+s)
		}
		return req
	}
}

// open311Key is a request whose api_key is the caller's token (none
// without credentials).
func open311Key(method, path string, form url.Values) func(d *doors, c string) *http.Request {
	return func(d *doors, c string) *http.Request {
		f := url.Values{}
		for k, v := range form {
			f[k] = slices.Clone(v)
		}
		if f.Has("service_request_id") {
			f.Set("service_request_id", d.o311)
		}
		if s := d.secrets[c]; s != "" {
			f.Set("api_key", s)
		}
		p := strings.NewReplacer("{o311}", d.o311, "{number}", d.ticket.Number).Replace(path)
		if method == "GET" {
			return d.request(method, p+"?"+f.Encode(), nil, "")
		}
		return d.request(method, p, strings.NewReader(f.Encode()), "application/x-www-form-urlencoded")
	}
}

func jsonBody(v string) func(d *doors) (io.Reader, string) {
	return func(*doors) (io.Reader, string) { return strings.NewReader(v), "application/json" }
}

func formBody(f url.Values) func(d *doors) (io.Reader, string) {
	return func(*doors) (io.Reader, string) {
		return strings.NewReader(f.Encode()), "application/x-www-form-urlencoded"
	}
}

// everyone answers all callers alike: a public route.
func everyone(code int) func(string) cell { return func(string) cell { return cell{code: code} } }

// staffOnly is a desk route that shows no ticket: any staff role in need
// gets ok; integrations and the department-less liaison 403; nobody the
// sign-in (303 for a page GET, else 401).
func staffOnly(ok int, need []string, anon int) func(string) cell {
	return func(c string) cell {
		switch {
		case c == cNone:
			return cell{code: anon}
		case gridSupervisor(c): // their app is /field/; the desks show them nothing
			return cell{code: http.StatusForbidden}
		case c == cOpen311 || c == cOwner || c == cCTI || c == cNoDept:
			return cell{code: http.StatusForbidden}
		case need == nil || slices.Contains(need, c):
			return cell{code: ok}
		}
		return cell{code: http.StatusForbidden}
	}
}

// dispatchDesk: the dispatchers' desk, whose triage holds the report
// waiting for its 核实: the centres of its area see it, another street's
// centre does not.
func dispatchDesk(c string) cell {
	x := staffOnly(http.StatusOK, supervisor, http.StatusSeeOther)(c)
	x.sees = slices.Contains([]string{cAdmin, cDisp, cStreet, cDistrict}, c)
	return x
}

// notePage is a note through the page's form: the photo form's check finds
// no ticket a supervisor may see, so a supervisor gets 404, as for a
// number that does not exist.
func notePage(c string) cell {
	if gridSupervisor(c) {
		return cell{code: http.StatusNotFound}
	}
	return ticketRoute(http.StatusSeeOther, http.StatusUnauthorized, nil, nil)(c)
}

// gridSupervisor reports whether c is one of the grid's supervisors.
func gridSupervisor(c string) bool { return c == cSupMine || c == cSupOther }

// signedIn is a desk route any member of staff may call (signing out,
// the home page that sends each role to its own desk).
func signedIn(ok, anon int) func(string) cell {
	return func(c string) cell {
		if gridSupervisor(c) {
			return cell{code: ok}
		}
		return staffOnly(ok, nil, anon)(c)
	}
}

// fieldRoute is a route of the supervisors' API: only a supervisor's
// token gets ok, and sees the ticket if in sees; no token 401.
func fieldRoute(ok int, sees ...string) func(string) cell {
	return func(c string) cell {
		switch {
		case c == cNone:
			return cell{code: http.StatusUnauthorized}
		case gridSupervisor(c):
			return cell{code: ok, sees: slices.Contains(sees, c)}
		}
		return cell{code: http.StatusForbidden}
	}
}

// fieldTask is a step on the task: the community's supervisor takes it;
// another street's finds no such task (404, as for a number that does not
// exist); everyone else is refused.
func fieldTask(c string) cell {
	if c == cSupOther {
		return cell{code: http.StatusNotFound}
	}
	return fieldRoute(http.StatusOK, cSupMine)(c)
}

// ticketRoute is a route that shows or changes the ticket: who sees it gets
// ok (with the full phone if in fullPhone), another department's liaison
// 404 as for no ticket at all, integrations and the department-less
// liaison 403, nobody anon. allowed narrows the roles further (403).
func ticketRoute(ok, anon int, fullPhone, allowed []string) func(string) cell {
	return func(c string) cell {
		switch c {
		case cNone:
			return cell{code: anon}
		case cOpen311, cOwner, cCTI, cNoDept, cSupMine, cSupOther:
			return cell{code: http.StatusForbidden}
		case cOther, cOtherStreet:
			return cell{code: http.StatusNotFound}
		}
		if allowed != nil && !slices.Contains(allowed, c) {
			return cell{code: http.StatusForbidden}
		}
		return cell{code: ok, sees: true, phone: slices.Contains(fullPhone, c)}
	}
}

var (
	viewers     = []string{cAdmin, cDisp, cAgent, cOwn, cAssist, cStreet, cDistrict}
	supervisor  = []string{cAdmin, cDisp, cStreet, cDistrict, cOtherStreet}
	cityCentre  = []string{cAdmin, cDisp} // what spans the city: the audit log, the call log
	phoneWork   = []string{cAdmin, cAgent}
	dispatchers = []string{cAdmin, cDisp, cAgent, cStreet, cDistrict} // see the ticket with its phone
)

// callLog is a call-log route: who reads it gets ok, with callers' full
// numbers if in full; liaisons and integrations 403; nobody 401.
func callLog(ok int, readers, full []string) func(string) cell {
	return func(c string) cell {
		switch {
		case c == cNone:
			return cell{code: http.StatusUnauthorized}
		case slices.Contains(readers, c):
			return cell{code: ok, phone: slices.Contains(full, c)}
		}
		return cell{code: http.StatusForbidden}
	}
}

func routes() []route {
	o := "/open311/v2"
	noteForm := formBody(url.Values{"text": {"核实情况"}})
	return []route{
		// The desks.
		{"GET /login", bearer("GET", "/login", nil), everyone(http.StatusOK)},
		{"POST /login", bearer("POST", "/login", formBody(url.Values{"name": {"nobody"}, "password": {"x"}})), everyone(http.StatusUnauthorized)},
		{"GET /desk/static/", bearer("GET", "/desk/static/desks.css", nil), everyone(http.StatusOK)},
		{"POST /logout", bearer("POST", "/logout", nil), signedIn(http.StatusSeeOther, http.StatusUnauthorized)},
		{"GET /desk", bearer("GET", "/desk", nil), signedIn(http.StatusSeeOther, http.StatusSeeOther)},
		{"GET /desk/{$}", bearer("GET", "/desk/", nil), signedIn(http.StatusSeeOther, http.StatusSeeOther)},
		{"GET /desk/dispatch", bearer("GET", "/desk/dispatch", nil), dispatchDesk},
		{"GET /desk/patrol", bearer("GET", "/desk/patrol", nil), staffOnly(http.StatusOK, supervisor, http.StatusSeeOther)},
		{"GET /desk/hotspots", bearer("GET", "/desk/hotspots", nil), staffOnly(http.StatusOK, supervisor, http.StatusSeeOther)},
		// A form naming no hotspot: refused as such by those who may open a case.
		{"POST /desk/hotspots/case", bearer("POST", "/desk/hotspots/case", formBody(url.Values{"category": {"0901"}})),
			staffOnly(http.StatusBadRequest, supervisor, http.StatusUnauthorized)},
		{"GET /desk/inbox", bearer("GET", "/desk/inbox", nil), inbox},
		{"GET /desk/search", bearer("GET", "/desk/search?number={number}", nil), staffOnly(http.StatusSeeOther, nil, http.StatusSeeOther)},
		{"GET /desk/tickets/{number}", bearer("GET", "/desk/tickets/{number}", nil), ticketRoute(http.StatusOK, http.StatusSeeOther, nil, nil)},
		{"GET /desk/tickets/{number}/photos/{id...}", bearer("GET", "/desk/tickets/{number}/photos/{photo}", nil), ticketRoute(http.StatusOK, http.StatusSeeOther, nil, nil)},
		{"POST /desk/tickets/{number}/reveal", bearer("POST", "/desk/tickets/{number}/reveal", nil), ticketRoute(http.StatusOK, http.StatusUnauthorized, viewers, nil)},
		{"POST /desk/tickets/{number}/{action}", bearer("POST", "/desk/tickets/{number}/note", noteForm), notePage},
		{"GET /desk/audit", bearer("GET", "/desk/audit", nil), staffOnly(http.StatusOK, cityCentre, http.StatusSeeOther)},
		{"GET /desk/events", bearer("GET", "/desk/events", nil), staffOnly(http.StatusOK, nil, http.StatusSeeOther)},
		{"GET /desk/indicators", bearer("GET", "/desk/indicators", nil), staffOnly(http.StatusOK, nil, http.StatusSeeOther)},
		{"GET /desk/indicators.csv", bearer("GET", "/desk/indicators.csv", nil), staffOnly(http.StatusOK, nil, http.StatusSeeOther)},
		{"GET /desk/kb", bearer("GET", "/desk/kb", nil), staffOnly(http.StatusOK, nil, http.StatusSeeOther)},
		{"GET /api/v1/desk/queue", bearer("GET", "/api/v1/desk/queue", nil), queue},
		{"GET /api/v1/kb/search", bearer("GET", "/api/v1/kb/search?q=%E7%A4%BE%E4%BF%9D", nil), staffOnly(http.StatusOK, nil, http.StatusUnauthorized)},
		{"GET /api/v1/desk/tickets/{number}", bearer("GET", "/api/v1/desk/tickets/{number}", nil), ticketRoute(http.StatusOK, http.StatusUnauthorized, nil, nil)},
		{"POST /api/v1/desk/tickets/{number}/reveal", bearer("POST", "/api/v1/desk/tickets/{number}/reveal", nil), ticketRoute(http.StatusOK, http.StatusUnauthorized, viewers, nil)},
		{"POST /api/v1/desk/tickets/{number}/{action}", bearer("POST", "/api/v1/desk/tickets/{number}/accept", nil), accept},

		// The web door: the citizen's pages and the JSON API.
		{"GET /static/*filepath", bearer("GET", "/static/style.css", nil), everyone(http.StatusOK)},
		{"HEAD /static/*filepath", bearer("HEAD", "/static/style.css", nil), everyone(http.StatusOK)},
		{"GET /", bearer("GET", "/", nil), everyone(http.StatusOK)},
		{"GET /faq", bearer("GET", "/faq?q=%E7%A4%BE%E4%BF%9D", nil), everyone(http.StatusOK)},
		{"POST /report", bearer("POST", "/report", formBody(url.Values{"text": {""}})), everyone(http.StatusBadRequest)},
		{"GET /track", bearer("GET", "/track", nil), everyone(http.StatusOK)},
		{"GET /t/:number", bearer("GET", "/t/{number}?token={track}", nil), citizen(http.StatusOK)},
		{"POST /t/:number/rate", bearer("POST", "/t/{number}/rate", func(d *doors) (io.Reader, string) {
			return formBody(url.Values{"token": {d.track}, "score": {"5"}})(d)
		}), everyone(http.StatusConflict)},
		{"POST /api/v1/reports", bearer("POST", "/api/v1/reports", jsonBody(`{}`)), everyone(http.StatusBadRequest)},
		{"GET /api/v1/tickets/:number", bearer("GET", "/api/v1/tickets/{number}", nil), webTicket},
		{"GET /api/v1/openapi.yaml", bearer("GET", "/api/v1/openapi.yaml", nil), everyone(http.StatusOK)},
		{"GET /api/v1/openapi.json", bearer("GET", "/api/v1/openapi.json", nil), everyone(http.StatusOK)},

		// Open311: public reads of Open311 requests only, never contact
		// details; updates only by the submitting client.
		{"GET " + o + "/discovery", open311Key("GET", o+"/discovery.json", nil), everyone(http.StatusOK)},
		{"GET " + o + "/services", open311Key("GET", o+"/services.json", nil), everyone(http.StatusOK)},
		{"GET " + o + "/services/{code}", open311Key("GET", o+"/services/roads.json", nil), everyone(http.StatusOK)},
		{"POST " + o + "/requests", open311Key("POST", o+"/requests.json", url.Values{"service_code": {"roads"}, "lat": {"39.9"}, "long": {"116.4"}, "description": {""}}), open311Post(http.StatusBadRequest)},
		{"GET " + o + "/requests", open311Key("GET", o+"/requests.json", url.Values{"service_request_id": {"{o311}"}}), public311},
		{"GET " + o + "/requests/{id}", open311Key("GET", o+"/requests/{number}.json", nil), everyone(http.StatusNotFound)},
		{"GET " + o + "/request/{id}", open311Key("GET", o+"/request/{o311}.json", nil), public311},
		{"GET " + o + "/tokens/{token}", open311Key("GET", o+"/tokens/nosuchtoken.json", nil), everyone(http.StatusNotFound)},
		{"GET " + o + "/servicerequestupdates", open311Key("GET", o+"/servicerequestupdates.json", nil), everyone(http.StatusOK)},
		{"POST " + o + "/servicerequestupdates", open311Key("POST", o+"/servicerequestupdates.json",
			url.Values{"service_request_id": {"x"}, "status": {"OPEN"}, "description": {"补充说明"}}), open311Update},

		// The supervisors' door and their phone app.
		{"POST /api/v1/field/login", bearer("POST", "/api/v1/field/login", jsonBody(`{"name":"sup.mine","password":"wrong password!"}`)), everyone(http.StatusUnauthorized)},
		{"POST /api/v1/field/reports", bearer("POST", "/api/v1/field/reports", jsonBody(`{"category":"roads","lat":39.9,"lon":116.4}`)), fieldRoute(http.StatusCreated)},
		{"GET /api/v1/field/tasks", bearer("GET", "/api/v1/field/tasks", nil), fieldRoute(http.StatusOK, cSupMine)},
		{"POST /api/v1/field/tasks/:number/:step", bearer("POST", "/api/v1/field/tasks/{task}/take", nil), fieldTask},
		{"POST /api/v1/field/positions", bearer("POST", "/api/v1/field/positions", jsonBody(`{"lat":39.9,"lon":116.4}`)), fieldRoute(http.StatusOK)},
		{"GET /field", bearer("GET", "/field", nil), everyone(http.StatusMovedPermanently)},
		{"GET /field/", bearer("GET", "/field/", nil), everyone(http.StatusOK)},
		{"GET /field/static/*filepath", bearer("GET", "/field/static/app.css", nil), everyone(http.StatusOK)},
		{"HEAD /field/static/*filepath", bearer("HEAD", "/field/static/app.css", nil), everyone(http.StatusOK)},
		{"GET /field/sw.js", bearer("GET", "/field/sw.js", nil), everyone(http.StatusOK)},
		{"GET /field/manifest.webmanifest", bearer("GET", "/field/manifest.webmanifest", nil), everyone(http.StatusOK)},

		// The call log and the hotline figures.
		{"POST /api/v1/cti/{token}", func(d *doors, c string) *http.Request {
			ev := fmt.Sprintf(`{"event":"newCall","callId":"authz-%d","from":"13800000000","to":"12345","direction":"in"}`, len(c))
			tok := d.secrets[c]
			if tok == "" {
				tok = "none"
			}
			return d.request("POST", "/api/v1/cti/"+tok, strings.NewReader(ev), "application/json")
		}, cti},
		{"GET /api/v1/calls", bearer("GET", "/api/v1/calls", nil), callLog(http.StatusOK, []string{cAdmin, cDisp, cAgent}, phoneWork)},
		{"GET /api/v1/hotline/stats", bearer("GET", "/api/v1/hotline/stats", nil), callLog(http.StatusOK, []string{cAdmin, cDisp, cAgent}, nil)},
		{"POST /api/v1/calls/{callId}/callback", bearer("POST", "/api/v1/calls/{call}/callback", nil), callLog(http.StatusOK, phoneWork, nil)},
		{"POST /api/v1/calls/{callId}/tickets", bearer("POST", "/api/v1/calls/{call}/tickets", func(d *doors) (io.Reader, string) {
			return jsonBody(`{"number":"` + d.ticket.Number + `"}`)(d)
		}), callLog(http.StatusOK, phoneWork, nil)},
	}
}

// inbox: staff see their inbox; a liaison's is the liaison's department's,
// so the ticket shows in the lead and the assisting department's only.
func inbox(c string) cell {
	x := staffOnly(http.StatusOK, nil, http.StatusSeeOther)(c)
	x.sees = c == cOwn || c == cAssist || c == cAdmin || c == cDisp || c == cAgent || c == cStreet || c == cDistrict
	return x
}

// queue is the API's inbox.
func queue(c string) cell {
	x := staffOnly(http.StatusOK, nil, http.StatusUnauthorized)(c)
	x.sees = c == cOwn || c == cAssist || c == cAdmin || c == cDisp || c == cAgent || c == cStreet || c == cDistrict
	return x
}

// accept is the lead department's step: the assisting department's liaison
// may not (403), supervisors and agents have no such right (403) whatever
// their area, and another department's is not found.
func accept(c string) cell {
	if c == cOtherStreet {
		return cell{code: http.StatusForbidden} // the role is refused before the ticket is read
	}
	x := ticketRoute(http.StatusOK, http.StatusUnauthorized, nil, []string{cOwn})(c)
	if c == cOwn {
		x.sees = true
	}
	return x
}

// citizen is the tracking page: the token decides, not the caller; no
// contact at all.
func citizen(code int) func(string) cell {
	return func(string) cell { return cell{code: code, sees: true} }
}

// webTicket is GET /api/v1/tickets/{number} with a bearer token: the staff
// view under the policy; without one, the tracking token is asked for.
func webTicket(c string) cell {
	if gridSupervisor(c) {
		// The web API's staff view follows the ticket policy, which gives
		// supervisors no staff view: as for a ticket that does not exist.
		return cell{code: http.StatusNotFound}
	}
	return ticketRoute(http.StatusOK, http.StatusUnauthorized, dispatchers, nil)(c)
}

// public311 is a public read of the Open311 request: everyone, no contact.
func public311(string) cell { return cell{code: http.StatusOK, sees: true} }

// open311Post needs an Open311 key; the body is then refused as invalid.
func open311Post(bad int) func(string) cell {
	return func(c string) cell {
		if c == cOpen311 || c == cOwner {
			return cell{code: bad}
		}
		return cell{code: http.StatusForbidden}
	}
}

// open311Update: only the submitting client's key may update its request.
func open311Update(c string) cell {
	if c == cOwner {
		return cell{code: http.StatusCreated, sees: true}
	}
	return cell{code: http.StatusForbidden}
}

// cti: only a cti token posts call events.
func cti(c string) cell {
	switch c {
	case cCTI:
		return cell{code: http.StatusOK}
	case cNone:
		return cell{code: http.StatusUnauthorized}
	}
	return cell{code: http.StatusForbidden}
}

func TestAccessPolicyEveryRoute(t *testing.T) {
	t.Parallel()
	for _, st := range []struct {
		name string
		open func(t *testing.T) (ticketing.Store, rawExec)
	}{{"sqlite", sqliteRaw}, {"postgres", postgresRaw}} {
		t.Run(st.name, func(t *testing.T) {
			store, raw := st.open(t)
			d := newDoors(t, store, raw)
			table := routes()
			known := map[string]bool{}
			for _, r := range table {
				known[r.pattern] = true
			}
			for _, p := range d.patterns {
				if !known[p] {
					t.Errorf("route %q has no row in the access table: add what every caller must get", p)
				}
			}
			for _, r := range table {
				if !slices.Contains(d.patterns, r.pattern) {
					t.Errorf("the table has a row for %q, which no door serves", r.pattern)
				}
			}
			for _, r := range table {
				for _, c := range callers {
					t.Run(r.pattern+"/"+c, func(t *testing.T) { d.check(t, r, c) })
				}
			}
		})
	}
}

// audited are the routes whose every staff view of the ticket is audited.
var audited = map[string]bool{
	"GET /desk/tickets/{number}":                true,
	"GET /desk/tickets/{number}/photos/{id...}": true,
	"POST /desk/tickets/{number}/reveal":        true,
	"GET /api/v1/desk/tickets/{number}":         true,
	"POST /api/v1/desk/tickets/{number}/reveal": true,
	"GET /api/v1/tickets/:number":               true,
}

// personal is what must never leave unaudited: the reporter's name, full
// phone and e-mail, the Open311 reporter's phone, the caller's number.
var personal = []string{authzName, authzPhone, strings.TrimPrefix(authzPhone, "+86"), authzEmail,
	o311Phone, callerPhone, strings.TrimPrefix(callerPhone, "+86")}

// check makes one request and holds its answer to the cell: the status;
// no ticket text for a caller who may not see it; no full phone for a
// caller who may not have it; and every answer that carries personal data
// audited before it left.
func (d *doors) check(t *testing.T, r route, c string) {
	want := r.want(c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := r.req(d, c).WithContext(ctx)
	before := d.auditCount(t)
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body []byte
	if resp.Header.Get("Content-Type") == "text/event-stream" {
		cancel() // a stream: the status is the answer
	} else if body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want.code {
		t.Fatalf("%s %s as %s: %d, want %d: %.300s", req.Method, req.URL.Path, c, resp.StatusCode, want.code, body)
	}
	s := string(body)
	if !want.sees {
		for _, secret := range []string{authzText, o311Text, authzName} {
			if strings.Contains(s, secret) {
				t.Errorf("%s may not see the ticket, but the answer holds %q", c, secret)
			}
		}
	}
	if !want.phone {
		for _, p := range []string{authzPhone, strings.TrimPrefix(authzPhone, "+86"), callerPhone, strings.TrimPrefix(callerPhone, "+86"), o311Phone, authzEmail} {
			if strings.Contains(s, p) {
				t.Errorf("%s may not have the full %q, but the answer holds it", c, p)
			}
		}
	}
	shown := slices.ContainsFunc(personal, func(p string) bool { return strings.Contains(s, p) })
	if shown && d.auditCount(t) == before {
		t.Errorf("%s got personal data from %s unaudited: %.300s", c, r.pattern, s)
	}
	// A staff view of the ticket (its page, its JSON, a photo, a reveal)
	// is audited whatever it shows.
	if audited[r.pattern] && want.sees && resp.StatusCode == http.StatusOK && d.auditCount(t) == before {
		t.Errorf("%s viewed the ticket through %s unaudited", c, r.pattern)
	}
}

func (d *doors) auditCount(t *testing.T) int {
	t.Helper()
	es, err := d.store.Audit(context.Background(), ticketing.AuditFilter{Limit: ticketing.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// sqliteRaw is a SQLite store and SQL on its file.
func sqliteRaw(t *testing.T) (ticketing.Store, rawExec) {
	path := filepath.Join(t.TempDir(), "yihao.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, func(t *testing.T, q string, args ...any) {
		t.Helper()
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for i, a := range args {
			if at, ok := a.(time.Time); ok {
				args[i] = at.UnixMicro()
			}
		}
		if _, err := db.Exec(strings.ReplaceAll(strings.ReplaceAll(q, "$1", "?"), "$2", "?"), args...); err != nil {
			t.Fatal(err)
		}
	}
}

// postgresRaw is a PostgreSQL store in a schema of its own and SQL on it.
func postgresRaw(t *testing.T) (ticketing.Store, rawExec) {
	u := pgtest.SchemaURL(t)
	s, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, func(t *testing.T, q string, args ...any) {
		t.Helper()
		pool, err := pgxpool.New(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if _, err := pool.Exec(context.Background(), q, args...); err != nil {
			t.Fatal(err)
		}
	}
}

// An assisting department (协办) hears of its tickets' changes on its own
// topic, as it sees them; a department with no part hears nothing.
func TestPublishToAssistingDepartments(t *testing.T) {
	t.Parallel()
	st, raw := sqliteRaw(t)
	d := newDoors(t, st, raw)
	ctx := context.Background()
	assist, cancelAssist, _ := d.bus.Subscribe(ctx, desks.DepartmentTopic("cg"))
	defer cancelAssist()
	other, cancelOther, _ := d.bus.Subscribe(ctx, desks.DepartmentTopic("sw"))
	defer cancelOther()
	if err := desks.Publish(ctx, d.bus, d.ticket); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-assist:
		if !strings.Contains(string(m), d.ticket.Number) {
			t.Errorf("the assisting department heard %s", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the assisting department heard nothing")
	}
	select {
	case m := <-other:
		t.Errorf("a department with no part heard %s", m)
	case <-time.After(200 * time.Millisecond):
	}
}
