package field_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/channels/field"
	"github.com/yihao-city/yihao/configs"
	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/routing/grid"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// types and inside adapt the demo catalogue and grid to the door, as cmd does.
type types struct{ cat *routing.Catalogue }

func (t types) FieldType(code string) (field.Type, error) {
	l, err := t.cat.FieldType(code)
	return field.Type{Code: l.Code, Name: l.Name, Group: l.Group, Photo: l.Photo, Filing: l.Filing}, err
}

func (t types) FieldTypes() []field.Type {
	var out []field.Type
	for _, l := range t.cat.FieldTypes() {
		out = append(out, field.Type{Code: l.Code, Name: l.Name, Group: l.Group, Photo: l.Photo, Filing: l.Filing})
	}
	return out
}

type inside struct{ ix *grid.Index }

func (g inside) Inside(lat, lon float64) bool { _, ok := g.ix.Locate(lat, lon); return ok }

func (g inside) Place(lat, lon float64) (ticketing.Area, bool) {
	c, ok := g.ix.Locate(lat, lon)
	return ticketing.Area{Grid: c.Code, Community: c.Community, Street: c.Street, District: c.District}, ok
}

// env is the door on a real store, the demo city's catalogue and grid, a
// supervisor's token and a dispatcher's.
type env struct {
	store             ticketing.Store
	svc               *ticketing.Service
	srv               *httptest.Server
	photos            string // the photo directory
	super, dispatcher string // bearer secrets
}

var stores = []struct {
	name string
	open func(t testing.TB) ticketing.Store
}{
	{"sqlite", func(t testing.TB) ticketing.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "yihao.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(t testing.TB) ticketing.Store {
		s, err := postgres.Open(context.Background(), pgtest.SchemaURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}},
}

func newEnv(t testing.TB, store ticketing.Store) *env {
	t.Helper()
	ctx := context.Background()
	cat, err := routing.LoadCatalogue(bytes.NewReader(configs.DemoCatalogue))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := grid.Load(bytes.NewReader(configs.DemoGrid))
	if err != nil {
		t.Fatal(err)
	}
	router, err := routing.NewRouter(cat, routing.WithGrid(ix, nil))
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := cat.Location()
	svc := ticketing.NewService(store, router, ticketing.WithLocation(loc))
	dir := t.TempDir()
	disk, err := media.NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, svc: svc}
	door, err := field.New(field.Config{}, field.Parts{Tickets: svc, Cases: svc, Queues: store, Tokens: store, Patrol: store, Types: types{cat}, Grid: inside{ix},
		Photos: disk, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.photos = dir
	hash, err := ticketing.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name   string
		role   ticketing.Role
		secret *string
	}{{"li.wei", ticketing.RoleSupervisor, &e.super}, {"zhao.min", ticketing.RoleDispatcher, &e.dispatcher}} {
		user := &ticketing.User{Name: u.name, DisplayName: u.name, Role: u.role, PasswordHash: hash, UpdatedAt: time.Now()}
		if err := store.PutUser(ctx, user); err != nil {
			t.Fatal(err)
		}
		secret, tok, err := ticketing.NewUserToken(user, u.name+"-phone", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		*u.secret = secret
	}
	e.srv = httptest.NewServer(httpapi.Alone(slog.New(slog.DiscardHandler), nil, func(en *httpapi.Engine) { door.Register(en) }))
	t.Cleanup(e.srv.Close)
	return e
}

func jpegBytes(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		img.Set(x, x%48, color.RGBA{R: 200, A: 255})
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// multipartBody is a report with fields and photos.
func multipartBody(t *testing.T, fields map[string]string, photos ...[]byte) (io.Reader, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range photos {
		fw, err := w.CreateFormFile("photos", "p"+string(rune('0'+i))+".jpg")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(p)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, w.FormDataContentType()
}

type answer struct {
	Number, Status, Category, Department, Grid string
	Error                                      *httpapi.Problem
}

func (e *env) post(t *testing.T, token, key string, body io.Reader, contentType string) (int, answer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/field/reports", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var a answer
	if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
		t.Fatalf("answer %d is not JSON: %v", res.StatusCode, err)
	}
	return res.StatusCode, a
}

func (e *env) postJSON(t *testing.T, token, key, body string) (int, answer) {
	return e.post(t, token, key, strings.NewReader(body), "application/json")
}

func (e *env) tickets(t *testing.T) []*ticketing.Ticket {
	t.Helper()
	ts, err := e.store.List(context.Background(), ticketing.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func (e *env) files(t *testing.T) int {
	n := 0
	_ = filepath.WalkDir(e.photos, func(_ string, d fs.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// A supervisor's report with a photo becomes one ticket of the field
// channel, placed on the grid and routed, its first event naming the
// supervisor; the same report again (the app retrying) is the same ticket,
// and its second copy of the photo is not kept.
func TestFieldReport(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e := newEnv(t, st.open(t))
			// 39.95, 116.37 is in the demo city's grid, in 东城区.
			fields := map[string]string{"category": "0103", "text": "井盖破损，已设警示", "lat": "39.95", "lon": "116.37"}
			body, ct := multipartBody(t, fields, jpegBytes(t))
			code, a := e.post(t, e.super, "app-7f3a", body, ct)
			// It waits for its centre to file it (立案): routing only suggests.
			if code != http.StatusCreated || a.Category != "0103" || a.Status != "received" || a.Department != "" || a.Grid == "" {
				t.Fatalf("report: %d %+v", code, a)
			}
			body, ct = multipartBody(t, fields, jpegBytes(t))
			if code, again := e.post(t, e.super, "app-7f3a", body, ct); code != http.StatusOK || again.Number != a.Number {
				t.Errorf("the same report again: %d %+v, want 200 and %s", code, again, a.Number)
			}
			ts := e.tickets(t)
			if len(ts) != 1 || e.files(t) != 1 {
				t.Fatalf("%d tickets, %d photo files; want one of each", len(ts), e.files(t))
			}
			tk := ts[0]
			if tk.Channel != ticketing.ChannelField || len(tk.Attachments) != 1 || tk.Location == nil || tk.Area.District != "110101" {
				t.Errorf("ticket = channel %s, %d photos, location %v, area %+v", tk.Channel, len(tk.Attachments), tk.Location, tk.Area)
			}
			evs, err := e.store.Events(context.Background(), tk.ID)
			if err != nil || len(evs) == 0 || evs[0].Actor != "supervisor:li.wei" {
				t.Errorf("first event = %+v (%v), want one by supervisor:li.wei", evs, err)
			}
			// A type that needs no photo, sent as JSON without a text:
			// the type's name says what was found.
			code, noise := e.postJSON(t, e.super, "", `{"category":"0701","lat":39.95,"lon":116.37}`)
			if code != http.StatusCreated || noise.Category != "0701" {
				t.Fatalf("noise: %d %+v", code, noise)
			}
			if tk, err := e.store.ByNumber(context.Background(), noise.Number); err != nil || tk.Text != "施工噪音" {
				t.Errorf("noise ticket text = %q (%v)", tk.Text, err)
			}
		})
	}
}

// Bad input gets a clear error naming the problem, and nothing is stored:
// no ticket, no photo on disk.
func TestFieldReportRefused(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e := newEnv(t, st.open(t))
			photo := jpegBytes(t)
			for _, tc := range []struct {
				name   string
				token  string
				fields map[string]string
				photos [][]byte
				json   string
				code   int
				field  string
				says   string
			}{
				{name: "no photo where the type needs one", token: e.super, json: `{"category":"0103","lat":39.95,"lon":116.37}`,
					code: 400, field: "photos", says: "0103 (污水井盖) needs a photo"},
				{name: "a type that does not exist", token: e.super, fields: map[string]string{"category": "9999", "lat": "39.95", "lon": "116.37"},
					photos: [][]byte{photo}, code: 400, field: "category", says: `"9999" is not a field report type`},
				{name: "a citizens' category, not a field type", token: e.super, json: `{"category":"consumer","lat":39.95,"lon":116.37}`,
					code: 400, field: "category", says: `"consumer"`},
				{name: "a position outside the city", token: e.super, fields: map[string]string{"category": "0103", "lat": "31.23", "lon": "121.47"},
					photos: [][]byte{photo}, code: 400, field: "lat", says: "outside the city's grid"},
				{name: "no position", token: e.super, json: `{"category":"0701"}`, code: 400, field: "lat", says: "position"},
				{name: "half a position", token: e.super, json: `{"category":"0701","lat":39.95}`, code: 400, field: "lat", says: "go together"},
				{name: "no type", token: e.super, json: `{"lat":39.95,"lon":116.37}`, code: 400, field: "category", says: "required"},
				{name: "an unknown field", token: e.super, fields: map[string]string{"category": "0701", "lat": "39.95", "lon": "116.37", "phone": "13800138000"},
					code: 400, field: "phone", says: "not a field"},
				{name: "not a photo", token: e.super, fields: map[string]string{"category": "0103", "lat": "39.95", "lon": "116.37"},
					photos: [][]byte{[]byte("not an image")}, code: 415},
				{name: "no token", json: `{"category":"0701","lat":39.95,"lon":116.37}`, code: 401},
				{name: "a dispatcher's token", token: e.dispatcher, json: `{"category":"0701","lat":39.95,"lon":116.37}`,
					code: 403, says: "grid supervisors"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					var code int
					var a answer
					if tc.json != "" {
						code, a = e.postJSON(t, tc.token, "", tc.json)
					} else {
						body, ct := multipartBody(t, tc.fields, tc.photos...)
						code, a = e.post(t, tc.token, "", body, ct)
					}
					if code != tc.code || a.Error == nil || (tc.field != "" && a.Error.Field != tc.field) || !strings.Contains(a.Error.Message, tc.says) {
						t.Errorf("%d %+v, want %d on %q saying %q", code, a.Error, tc.code, tc.field, tc.says)
					}
					if n, f := len(e.tickets(t)), e.files(t); n != 0 || f != 0 {
						t.Errorf("a refused report left %d tickets and %d photo files", n, f)
					}
				})
			}
		})
	}
}

// A disabled supervisor's token stops working at once.
func TestDisabledSupervisor(t *testing.T) {
	e := newEnv(t, stores[0].open(t))
	ctx := context.Background()
	u, err := e.store.UserByName(ctx, "li.wei")
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled, u.UpdatedAt = true, time.Now()
	if err := e.store.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if code, a := e.postJSON(t, e.super, "", `{"category":"0701","lat":39.95,"lon":116.37}`); code != http.StatusUnauthorized {
		t.Errorf("disabled supervisor: %d %+v", code, a.Error)
	}
}
