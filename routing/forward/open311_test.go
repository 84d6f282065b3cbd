package forward_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/routing/forward"
	"github.com/yihao-city/yihao/ticketing"
)

// geoServer is a GeoReport v2 server of a city's grid platform, as far as
// Yihao uses one: create, list, show, and resolve tokens.
type geoServer struct {
	mu        sync.Mutex
	requests  []*geoRequest
	posts     int               // POSTs that created a request
	tokens    map[string]string // token → request id
	lookups   int               // GET requests.json
	dropPosts int               // the next n creates lose their answer
	useTokens bool              // answer creates with a token only
	noListing bool              // GET requests.json answers 404
	tokenMiss int               // the next n token lookups answer 404
}

type geoRequest struct {
	ID, ServiceCode, Description, Lat, Long, Address, Status, StatusNotes string
	Attributes                                                            map[string]string
	Contact                                                               string
	Requested                                                             time.Time
}

const (
	apiKey       = "k-9f2c"
	jurisdiction = "city.example.cn"
)

func newGeoServer(t *testing.T) (*geoServer, *httptest.Server) {
	g := &geoServer{tokens: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/requests.json", g.create)
	mux.HandleFunc("GET /v2/requests.json", g.list)
	mux.HandleFunc("GET /v2/requests/{id}", g.show)
	mux.HandleFunc("GET /v2/tokens/{token}", g.token)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return g, srv
}

func geoError(w http.ResponseWriter, code int, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode([]map[string]any{{"code": code, "description": desc}}) // test server
}

func geoJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v) // test server
}

func (g *geoServer) create(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		geoError(w, 400, err.Error())
		return
	}
	if r.PostForm.Get("api_key") != apiKey {
		geoError(w, 403, "Invalid api_key")
		return
	}
	if r.PostForm.Get("jurisdiction_id") != jurisdiction {
		geoError(w, 404, "jurisdiction_id not found")
		return
	}
	if r.PostForm.Get("service_code") == "" || (r.PostForm.Get("lat") == "" && r.PostForm.Get("address_string") == "") {
		geoError(w, 400, "service_code and a location are required")
		return
	}
	g.mu.Lock()
	g.posts++
	req := &geoRequest{ID: fmt.Sprint(638343 + g.posts), ServiceCode: r.PostForm.Get("service_code"),
		Description: r.PostForm.Get("description"), Lat: r.PostForm.Get("lat"), Long: r.PostForm.Get("long"),
		Address: r.PostForm.Get("address_string"), Status: "open", Attributes: map[string]string{},
		Contact: r.PostForm.Get("phone"), Requested: time.Now()}
	for k, v := range r.PostForm {
		if name, ok := strings.CutPrefix(k, "attribute["); ok {
			req.Attributes[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	g.requests = append(g.requests, req)
	drop := g.dropPosts > 0
	if drop {
		g.dropPosts--
	}
	answer := map[string]any{"service_request_id": req.ID, "service_notice": "", "account_id": nil}
	if g.useTokens {
		tok := "tok-" + req.ID
		g.tokens[tok] = req.ID
		answer = map[string]any{"token": tok}
	}
	g.mu.Unlock()
	if drop { // created, but the answer never arrives
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	geoJSON(w, []any{answer})
}

func (g *geoServer) view(req *geoRequest) map[string]any {
	return map[string]any{"service_request_id": req.ID, "status": req.Status, "status_notes": req.StatusNotes,
		"service_code": req.ServiceCode, "description": req.Description, "lat": req.Lat, "long": req.Long,
		"address": req.Address, "requested_datetime": req.Requested.Format(time.RFC3339)}
}

func (g *geoServer) list(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lookups++
	if g.noListing {
		geoError(w, 404, "not supported")
		return
	}
	q := r.URL.Query()
	start, err1 := time.Parse(time.RFC3339, q.Get("start_date"))
	end, err2 := time.Parse(time.RFC3339, q.Get("end_date"))
	if err1 != nil || err2 != nil || q.Get("jurisdiction_id") != jurisdiction {
		geoError(w, 400, "bad query")
		return
	}
	out := []any{}
	for _, req := range g.requests {
		if req.ServiceCode == q.Get("service_code") && !req.Requested.Before(start) && !req.Requested.After(end) {
			out = append(out, g.view(req))
		}
	}
	geoJSON(w, out)
}

func (g *geoServer) find(id string) *geoRequest {
	for _, req := range g.requests {
		if req.ID == id {
			return req
		}
	}
	return nil
}

func (g *geoServer) show(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	req := g.find(strings.TrimSuffix(r.PathValue("id"), ".json"))
	if req == nil {
		geoError(w, 404, "no such request")
		return
	}
	geoJSON(w, []any{g.view(req)})
}

func (g *geoServer) token(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	tok := strings.TrimSuffix(r.PathValue("token"), ".json")
	id, ok := g.tokens[tok]
	if !ok || g.tokenMiss > 0 {
		g.tokenMiss--
		geoError(w, 404, "token not processed yet")
		return
	}
	geoJSON(w, []any{map[string]any{"service_request_id": id, "token": tok}})
}

// setStatus is the platform's staff updating the request.
func (g *geoServer) setStatus(id, status, notes string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	req := g.find(id)
	req.Status, req.StatusNotes = status, notes
}

func (g *geoServer) snapshot() (posts, lookups int, reqs []geoRequest) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.requests {
		reqs = append(reqs, *r)
	}
	return g.posts, g.lookups, reqs
}

func open311Endpoint(url string) forward.Endpoint {
	return forward.Endpoint{Name: "o311", Label: "区数字城管平台", Kind: forward.KindOpen311, URL: url + "/v2",
		APIKey: apiKey, JurisdictionID: jurisdiction, Departments: []string{"cgw"},
		ServiceCodes: map[string]string{"0101": "manhole-cover"},
		BackoffBase:  5 * time.Millisecond, BackoffMax: 40 * time.Millisecond, Idle: 5 * time.Millisecond,
		PollInterval: 10 * time.Millisecond, Timeout: 2 * time.Second}
}

// openForwarder wires a forwarder on s for ep, registered and running.
func openForwarder(t *testing.T, s store, svc *ticketing.Service, ep forward.Endpoint) (stop func()) {
	t.Helper()
	f, err := forward.New(s, svc, serviceNotes{svc: svc}, []forward.Endpoint{ep}, forward.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	return run(t, f)
}

func refOf(t *testing.T, s store, tk *ticketing.Ticket) *ticketing.ExternalRef {
	t.Helper()
	ref, err := s.ExternalRef(context.Background(), "o311", tk.ID)
	if err != nil {
		return nil
	}
	return ref
}

// TestOpen311Flow: a dispatched ticket becomes one service request, its id
// is stored, the forwarding is noted, and the platform's status changes
// come back as events until the request is closed.
func TestOpen311Flow(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() store) {
		ctx := context.Background()
		s := open()
		svc := newService(s)
		g, srv := newGeoServer(t)
		stop := openForwarder(t, s, svc, open311Endpoint(srv.URL))

		tk := submit(t, svc, "o-1", "小区门口井盖缺失，很危险", 0)
		other := submit(t, svc, "o-2", "夜间施工噪音扰民", 0) // another department
		triage := submit(t, svc, "o-3", "咨询社保政策", 0)  // not dispatched
		waitFor(t, "the service request id", func() bool {
			ref := refOf(t, s, tk)
			return ref != nil && ref.RemoteID != "" && !ref.ForwardedAt.IsZero()
		})
		posts, _, reqs := g.snapshot()
		if posts != 1 || len(reqs) != 1 {
			t.Fatalf("%d posts, %d requests; want 1", posts, len(reqs))
		}
		r := reqs[0]
		if r.ServiceCode != "manhole-cover" || r.Lat != "39.9042" || r.Long != "116.4074" || r.Address != "东城区东华门街道" ||
			!strings.Contains(r.Description, "井盖缺失") || !strings.Contains(r.Description, tk.Number) ||
			r.Attributes["yihao_ticket"] != tk.Number || r.Contact != "" {
			t.Errorf("service request %+v", r)
		}
		ref := refOf(t, s, tk)
		if ref.RemoteID != r.ID {
			t.Errorf("stored remote id %q, want %q", ref.RemoteID, r.ID)
		}
		evs := eventsOf(t, s, tk, ticketing.EventForwarded)
		if len(evs) != 1 || !strings.Contains(evs[0].Note, r.ID) || evs[0].Actor != "forward:o311" ||
			evs[0].Public != "已转送区数字城管平台办理" {
			t.Errorf("forwarded events %+v", evs)
		}

		// Later changes of the ticket do not create another request.
		if _, err := svc.Act(ctx, tk.Number, func(t *ticketing.Ticket, now time.Time) error { return t.Accept(now, "liaison") }); err != nil {
			t.Fatal(err)
		}
		g.setStatus(r.ID, "open", "已派员现场核查")
		waitFor(t, "the first status note", func() bool { return len(eventsOf(t, s, tk, ticketing.EventExternalUpdate)) == 1 })
		g.setStatus(r.ID, "closed", "井盖已更换")
		waitFor(t, "the closing note", func() bool { return len(eventsOf(t, s, tk, ticketing.EventExternalUpdate)) == 2 })
		waitFor(t, "polling to stop", func() bool {
			ref := refOf(t, s, tk)
			return ref.Status == "closed" && ref.NextPollAt.IsZero()
		})
		waitFor(t, "deliveries to settle", settled(t, s, "o311"))
		stop()

		ups := eventsOf(t, s, tk, ticketing.EventExternalUpdate)
		if !strings.Contains(ups[0].Note, "已派员现场核查") || ups[0].Public != "区数字城管平台：已派员现场核查" ||
			!strings.Contains(ups[1].Note, "已办结") || !strings.Contains(ups[1].Note, "井盖已更换") ||
			ups[1].Public != "区数字城管平台：井盖已更换" {
			t.Errorf("status notes %+v", ups)
		}
		if posts, _, _ := g.snapshot(); posts != 1 {
			t.Errorf("%d service requests created, want 1", posts)
		}
		for _, x := range []*ticketing.Ticket{other, triage} {
			if ref := refOf(t, s, x); ref != nil {
				t.Errorf("ticket %s should not be forwarded: %+v", x.Number, ref)
			}
		}
		if st, _ := s.DeliveryStats(ctx, "o311"); st.Dead != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestOpen311LostAnswer: the platform creates the request but its answer is
// lost; the retry finds the request instead of creating a second one.
func TestOpen311LostAnswer(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() store) {
		s := open()
		svc := newService(s)
		g, srv := newGeoServer(t)
		g.dropPosts = 1
		stop := openForwarder(t, s, svc, open311Endpoint(srv.URL))
		tk := submit(t, svc, "lost", "井盖缺失", 0)
		waitFor(t, "the service request id", func() bool {
			ref := refOf(t, s, tk)
			return ref != nil && ref.RemoteID != "" && !ref.ForwardedAt.IsZero()
		})
		waitFor(t, "deliveries to settle", settled(t, s, "o311"))
		stop()
		posts, lookups, reqs := g.snapshot()
		if posts != 1 || len(reqs) != 1 || lookups == 0 {
			t.Fatalf("%d posts, %d lookups; want 1 post found again by a lookup", posts, lookups)
		}
		if ref := refOf(t, s, tk); ref.RemoteID != reqs[0].ID {
			t.Errorf("remote id %q, want %q", ref.RemoteID, reqs[0].ID)
		}
		if n := len(eventsOf(t, s, tk, ticketing.EventForwarded)); n != 1 {
			t.Errorf("%d forwarded events, want 1", n)
		}
	})
}

// TestOpen311LostAnswerNoListing pins the fallback: a server that refuses to
// list requests cannot be asked, so the lost create is posted again.
func TestOpen311LostAnswerNoListing(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() store) {
		s := open()
		svc := newService(s)
		g, srv := newGeoServer(t)
		g.dropPosts, g.noListing = 1, true
		stop := openForwarder(t, s, svc, open311Endpoint(srv.URL))
		tk := submit(t, svc, "nolist", "井盖缺失", 0)
		waitFor(t, "the service request id", func() bool {
			ref := refOf(t, s, tk)
			return ref != nil && ref.RemoteID != ""
		})
		stop()
		if posts, lookups, _ := g.snapshot(); posts != 2 || lookups != 1 {
			t.Errorf("%d posts, %d lookups; want the refused lookup and a second post", posts, lookups)
		}
	})
}

// TestOpen311Token: a server that answers with a token has it resolved into
// the request id by polling; only then is the forwarding noted.
func TestOpen311Token(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() store) {
		s := open()
		svc := newService(s)
		g, srv := newGeoServer(t)
		g.useTokens, g.tokenMiss = true, 2
		stop := openForwarder(t, s, svc, open311Endpoint(srv.URL))
		tk := submit(t, svc, "token", "井盖缺失", 0)
		waitFor(t, "the token to resolve", func() bool {
			ref := refOf(t, s, tk)
			return ref != nil && ref.RemoteID != "" && !ref.ForwardedAt.IsZero()
		})
		stop()
		ref := refOf(t, s, tk)
		_, _, reqs := g.snapshot()
		if len(reqs) != 1 || ref.RemoteID != reqs[0].ID || ref.Token != "tok-"+reqs[0].ID {
			t.Errorf("ref %+v, requests %+v", ref, reqs)
		}
		if evs := eventsOf(t, s, tk, ticketing.EventForwarded); len(evs) != 1 || !strings.Contains(evs[0].Note, reqs[0].ID) {
			t.Errorf("forwarded events %+v", evs)
		}
	})
}

// TestOpen311Permanent: an unmapped category and a refused api key are
// dead letters at the first attempt; nothing is created on the server.
func TestOpen311Permanent(t *testing.T) {
	eachStore(t, func(t *testing.T, open func() store) {
		ctx := context.Background()
		s := open()
		svc := newService(s)
		g, srv := newGeoServer(t)
		unmapped := open311Endpoint(srv.URL)
		unmapped.Departments = nil // the noise ticket's category has no service code
		badKey := open311Endpoint(srv.URL)
		badKey.Name, badKey.APIKey = "o311-badkey", "wrong"
		f, err := forward.New(s, svc, serviceNotes{svc: svc}, []forward.Endpoint{unmapped, badKey}, forward.WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Register(ctx); err != nil {
			t.Fatal(err)
		}
		submit(t, svc, "noise", "夜间施工噪音", 0)
		submit(t, svc, "manhole", "井盖缺失", 0)
		stop := run(t, f)
		waitFor(t, "unmapped to settle", settled(t, s, "o311"))
		waitFor(t, "bad key to settle", settled(t, s, "o311-badkey"))
		stop()
		dead, _ := s.DeadLetters(ctx, "o311", 10)
		if len(dead) != 1 || !strings.Contains(dead[0].LastError, `service_code is configured for category "0302"`) {
			t.Errorf("unmapped dead letters %+v", dead)
		}
		dead, _ = s.DeadLetters(ctx, "o311-badkey", 10)
		if len(dead) != 1 || !strings.Contains(dead[0].LastError, "403") || !strings.Contains(dead[0].LastError, "Invalid api_key") {
			t.Errorf("bad key dead letters %+v", dead)
		}
		if posts, _, _ := g.snapshot(); posts != 1 {
			t.Errorf("%d requests created, want only the manhole through the good endpoint", posts)
		}
	})
}
