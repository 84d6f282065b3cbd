package field_test

import (
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// supervisorIn adds a supervisor of area (and of those cells only, if
// any) with a phone token.
func (e *env) supervisorIn(t *testing.T, name, area string, cells ...string) string {
	t.Helper()
	ctx := context.Background()
	hash, err := ticketing.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	u := &ticketing.User{Name: name, Role: ticketing.RoleSupervisor, Area: area, Cells: cells, PasswordHash: hash, UpdatedAt: time.Now()}
	if err := e.store.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	secret, tok, err := ticketing.NewUserToken(u, name+"-phone", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	return secret
}

type taskAnswer struct {
	Number, Task, Status, Text, Grid string
	TakenBy                          string    `json:"taken_by"`
	Light                            string    `json:"light"`
	DueAt                            time.Time `json:"due_at"`
	Error                            *struct{ Code, Field string }
}

func (e *env) call(t *testing.T, token, method, path string, body io.Reader, ct string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func (e *env) taskList(t *testing.T, token string) (int, []taskAnswer) {
	t.Helper()
	code, b := e.call(t, token, http.MethodGet, "/api/v1/field/tasks", nil, "")
	var out struct{ Tasks []taskAnswer }
	if code == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("task list: %v: %s", err, b)
		}
	}
	return code, out.Tasks
}

func (e *env) stepTask(t *testing.T, token, number, step string, body io.Reader, ct string) (int, taskAnswer) {
	t.Helper()
	code, b := e.call(t, token, http.MethodPost, "/api/v1/field/tasks/"+number+"/"+step, body, ct)
	var a taskAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("%s: %d %s", step, code, b)
	}
	return code, a
}

// A citizen's report of a type confirmed first (占道经营) waits with a 核实
// task; the supervisors of its community see it, another community's do
// not and cannot touch it; one takes it, and a second supervisor cannot
// then finish it; confirmed with a photo, it is filed. Handled by the
// department, the case gets a 核查 task: it needs a photo, is sent back
// once as not fixed, and passes the second time.
func TestFieldTasks(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e := newEnv(t, st.open(t))
			ctx := context.Background()
			tk, _, err := e.svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeChat, ExternalID: "msg:1",
				Text: "小区门口有流动摊贩占道经营", Category: "0604", Location: &ticketing.Point{Lat: 39.95, Lon: 116.37},
				Reporter: ticketing.Contact{OpenID: "oCitizen"}})
			if err != nil {
				t.Fatal(err)
			}
			if tk.Status != ticketing.StatusReceived || tk.Task != ticketing.TaskConfirm || tk.Area.Community == "" {
				t.Fatalf("the citizen's report: %s, task %q, area %+v", tk.Status, tk.Task, tk.Area)
			}
			mine, other := e.supervisorIn(t, "sup.mine", tk.Area.Community), e.supervisorIn(t, "sup.other", "110105004004")
			partner := e.supervisorIn(t, "sup.partner", tk.Area.Street)

			code, list := e.taskList(t, mine)
			if code != http.StatusOK || len(list) != 1 || list[0].Number != tk.Number || list[0].Task != "confirm" ||
				list[0].DueAt.IsZero() || !strings.Contains(list[0].Text, "摊贩") || list[0].Light != "green" {
				t.Fatalf("the community's list: %d %+v", code, list)
			}
			if _, list := e.taskList(t, other); len(list) != 0 {
				t.Errorf("another community's list: %+v", list)
			}
			// Cells assigned narrow the community: the cell's own supervisor
			// sees the task, one of the community's other cells neither sees
			// nor touches it.
			otherCell := "110101001001001"
			if otherCell == tk.Area.Grid {
				otherCell = "110101001001002"
			}
			ownCell := e.supervisorIn(t, "sup.cell", tk.Area.Community, tk.Area.Grid, otherCell)
			elsewhere := e.supervisorIn(t, "sup.elsewhere", tk.Area.Community, otherCell)
			if _, list := e.taskList(t, ownCell); len(list) != 1 || list[0].Number != tk.Number {
				t.Errorf("the cell's supervisor's list: %+v", list)
			}
			if _, list := e.taskList(t, elsewhere); len(list) != 0 {
				t.Errorf("another cell's supervisor's list: %+v", list)
			}
			if code, _ := e.stepTask(t, elsewhere, tk.Number, "take", nil, ""); code != http.StatusNotFound {
				t.Errorf("another cell's supervisor taking the task: %d", code)
			}
			if code, _ := e.taskList(t, e.dispatcher); code != http.StatusForbidden {
				t.Errorf("a dispatcher's token on the task list: %d", code)
			}
			if code, _ := e.stepTask(t, other, tk.Number, "take", nil, ""); code != http.StatusNotFound {
				t.Errorf("another community taking the task: %d", code)
			}
			if code, a := e.stepTask(t, mine, tk.Number, "take", nil, ""); code != http.StatusOK || a.TakenBy != "sup.mine" {
				t.Fatalf("take: %d %+v", code, a)
			}
			if code, a := e.stepTask(t, partner, tk.Number, "confirm", strings.NewReader(`{"outcome":"yes"}`), "application/json"); code != http.StatusConflict || a.Error.Code != "task_taken" {
				t.Errorf("a second supervisor confirming a taken task: %d %+v", code, a.Error)
			}
			for _, bad := range []struct{ body, field string }{{`{"outcome":"maybe"}`, "outcome"}, {`{"outcome":"no"}`, "note"}, {`{"outcome":"yes","x":1}`, ""}} {
				if code, a := e.stepTask(t, mine, tk.Number, "confirm", strings.NewReader(bad.body), "application/json"); code != http.StatusBadRequest || a.Error.Field != bad.field {
					t.Errorf("confirm %s: %d %+v", bad.body, code, a.Error)
				}
			}
			before := e.files(t)
			body, ct := multipartBody(t, map[string]string{"outcome": "yes", "note": "确有三个摊位"}, jpegBytes(t))
			if code, a := e.stepTask(t, mine, tk.Number, "confirm", body, ct); code != http.StatusOK || a.Status != "registered" || a.Task != "" {
				t.Fatalf("confirm: %d %+v", code, a)
			}
			if e.files(t) != before+1 {
				t.Error("the site photo is not kept")
			}
			if _, list := e.taskList(t, mine); len(list) != 0 {
				t.Errorf("the list after 核实: %+v", list)
			}

			// The department's work, then 核查.
			if _, err := e.svc.Dispatch(ctx, tk.Number, "zhao.min", ticketing.DispatchOrder{}); err != nil {
				t.Fatal(err)
			}
			handle := func() {
				t.Helper()
				if _, err := e.svc.Act(ctx, tk.Number, func(t *ticketing.Ticket, now time.Time) error {
					if t.Status == ticketing.StatusDispatched {
						if err := t.Accept(now, "li.cgw"); err != nil {
							return err
						}
					}
					return t.ReportHandled(now, "li.cgw", "摊贩已劝离")
				}); err != nil {
					t.Fatal(err)
				}
			}
			handle()
			if _, list := e.taskList(t, partner); len(list) != 1 || list[0].Task != "inspect" {
				t.Fatalf("the street's list after the result: %+v", list)
			}
			if code, a := e.stepTask(t, partner, tk.Number, "inspect", strings.NewReader(`{"outcome":"yes"}`), "application/json"); code != http.StatusBadRequest || a.Error.Field != "photos" {
				t.Errorf("an inspection without a photo: %d %+v", code, a.Error)
			}
			body, ct = multipartBody(t, map[string]string{"outcome": "no", "note": "摊贩又回来了"}, jpegBytes(t))
			if code, a := e.stepTask(t, partner, tk.Number, "inspect", body, ct); code != http.StatusOK || a.Status != "accepted" {
				t.Fatalf("not fixed: %d %+v", code, a)
			}
			handle()
			body, ct = multipartBody(t, map[string]string{"outcome": "yes"}, jpegBytes(t))
			if code, a := e.stepTask(t, mine, tk.Number, "inspect", body, ct); code != http.StatusOK || a.Status != "closed" {
				t.Fatalf("fixed: %d %+v", code, a)
			}
			if code, _ := e.stepTask(t, mine, tk.Number, "inspect", strings.NewReader(`{"outcome":"yes"}`), "application/json"); code != http.StatusNotFound {
				t.Errorf("a closed case's task: %d", code)
			}
			if code, _ := e.stepTask(t, mine, "26120500000019", "frobnicate", nil, ""); code != http.StatusNotFound {
				t.Errorf("an unknown step: %d", code)
			}
			got, _ := e.svc.Ticket(ctx, tk.Number)
			if got.ReworkCount != 1 || len(got.Attachments) != 3 {
				t.Errorf("closed case: rework %d, %d photos", got.ReworkCount, len(got.Attachments))
			}
		})
	}
}

// The app signs a supervisor in for a token of the phone's own, ending
// the token of an earlier sign-in; a wrong password, an unknown name and a
// dispatcher's account are refused alike.
// The page, its manifest and its service worker are served.
func TestFieldAppSignIn(t *testing.T) {
	e := newEnv(t, stores[0].open(t))
	login := func(name, pw string) (int, map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"name": name, "password": pw})
		res, err := http.Post(e.srv.URL+"/api/v1/field/login", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	for _, bad := range [][2]string{{"li.wei", "wrong password!"}, {"nobody", "correct horse battery"}, {"zhao.min", "correct horse battery"}} {
		if code, m := login(bad[0], bad[1]); code != http.StatusUnauthorized || m["token"] != nil {
			t.Errorf("sign-in %s: %d %v", bad[0], code, m)
		}
	}
	code, m := login(" LI.WEI ", "correct horse battery")
	tok, _ := m["token"].(string)
	if code != http.StatusOK || !strings.HasPrefix(tok, ticketing.TokenPrefix) {
		t.Fatalf("sign-in: %d %v", code, m)
	}
	if code, _ := e.taskList(t, tok); code != http.StatusOK {
		t.Errorf("the app's token on the task list: %d", code)
	}
	// Signing in again (another phone) ends the first phone's token.
	code, m = login("li.wei", "correct horse battery")
	second, _ := m["token"].(string)
	if code != http.StatusOK || second == "" || second == tok {
		t.Fatalf("second sign-in: %d %v", code, m)
	}
	if code, _ := e.taskList(t, tok); code != http.StatusUnauthorized {
		t.Errorf("the first phone's token after a second sign-in: %d, want 401", code)
	}
	if code, _ := e.taskList(t, second); code != http.StatusOK {
		t.Errorf("the second phone's token: %d", code)
	}
	for path, want := range map[string]string{"/field/": "0103 污水井盖", "/field/manifest.webmanifest": `"start_url": "/field/"`,
		"/field/sw.js": "caches.open", "/field/static/app.js": "Idempotency-Key"} {
		res, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, lacks %q", path, res.StatusCode, want)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
}

// 自处置: a small problem fixed on the spot is reported and closed in one
// step, with photos from before and after, and counted apart; without an
// after photo, or with a result but not marked self-handled, nothing is
// stored.
func TestSelfHandled(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e := newEnv(t, st.open(t))
			fields := map[string]string{"category": "0103", "lat": "39.95", "lon": "116.37", "self_handled": "yes", "result": "井盖移位，已复位"}
			body, ct := multipartBody(t, fields, jpegBytes(t))
			if code, a := e.post(t, e.super, "self-1", body, ct); code != http.StatusBadRequest || a.Error == nil || a.Error.Field != "after" {
				t.Errorf("no after photo: %d %+v", code, a.Error)
			}
			delete(fields, "self_handled")
			body, ct = multipartBody(t, fields, jpegBytes(t))
			if code, a := e.post(t, e.super, "self-2", body, ct); code != http.StatusBadRequest || a.Error == nil || a.Error.Field != "self_handled" {
				t.Errorf("a result without self_handled: %d %+v", code, a.Error)
			}
			if len(e.tickets(t)) != 0 || e.files(t) != 0 {
				t.Fatalf("refusals stored %d tickets, %d photos", len(e.tickets(t)), e.files(t))
			}
			fields["self_handled"] = "yes"
			var buf strings.Builder
			w := multipartWriter(t, &buf, fields)
			addFile(t, w, "photos", jpegBytes(t))
			addFile(t, w, "after", jpegBytes(t))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			code, a := e.post(t, e.super, "self-3", strings.NewReader(buf.String()), w.FormDataContentType())
			if code != http.StatusCreated || a.Status != "closed" {
				t.Fatalf("self-handled: %d %+v", code, a)
			}
			tk, err := e.store.ByNumber(context.Background(), a.Number)
			if err != nil || len(tk.CitizenPhotos()) != 1 || len(tk.ResultPhotos()) != 1 {
				t.Fatalf("the case: %+v %v", tk, err)
			}
			evs, _ := e.store.Events(context.Background(), tk.ID)
			if last := evs[len(evs)-1]; last.Type != ticketing.EventSelfHandled || last.Actor != "supervisor:li.wei" {
				t.Errorf("last event %+v", last)
			}
		})
	}
}

func multipartWriter(t *testing.T, buf io.Writer, fields map[string]string) *multipart.Writer {
	w := multipart.NewWriter(buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func addFile(t *testing.T, w *multipart.Writer, field string, b []byte) {
	fw, err := w.CreateFormFile(field, field+".jpg")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(b)
}

// Patrol: a supervisor's phone sends where it is; the position is placed
// in its cell, becomes the supervisor's latest, and marks the cell visited
// today. A position outside the grid, or sent by anyone but a supervisor,
// is refused and changes nothing.
func TestPatrolPositions(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e := newEnv(t, st.open(t))
			ctx := context.Background()
			post := func(token, body string) int {
				code, _ := e.call(t, token, http.MethodPost, "/api/v1/field/positions", strings.NewReader(body), "application/json")
				return code
			}
			for token, body := range map[string]string{e.super: `{"lat":31.2,"lon":121.5}`, e.dispatcher: `{"lat":39.95,"lon":116.37}`} {
				if code := post(token, body); code != http.StatusBadRequest && code != http.StatusForbidden {
					t.Errorf("refused position: %d", code)
				}
			}
			if code := post(e.super, `{"lat":39.95}`); code != http.StatusBadRequest {
				t.Errorf("no longitude: %d", code)
			}
			if ps, _ := e.store.Patrol(ctx, "", time.Now().Add(-time.Hour)); len(ps) != 0 {
				t.Fatalf("refusals stored %+v", ps)
			}
			if code := post(e.super, `{"lat":39.95,"lon":116.37}`); code != http.StatusOK {
				t.Fatalf("position: %d", code)
			}
			ps, err := e.store.Patrol(ctx, "110101", time.Now().Add(-time.Minute))
			if err != nil || len(ps) != 1 || ps[0].User != "li.wei" || ps[0].Area.Grid == "" {
				t.Fatalf("patrol: %+v %v", ps, err)
			}
			cells, err := e.store.Visited(ctx, "", time.Now().In(time.Local).Format(time.DateOnly))
			if err != nil || len(cells) != 1 || cells[0] != ps[0].Area.Grid {
				t.Errorf("visited today: %v %v", cells, err)
			}
		})
	}
}
