package webform_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/yihao-city/yihao/channels/webform"
	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/ticketing"
)

// The OpenAPI document (openapi.yaml) is kept true here: its paths are the
// routes gin serves, real responses validate against its schemas, and its
// schemas list exactly the fields the Go response types emit.

const docURL = "https://yihao.invalid/api/v1/openapi.json"

// apiDoc is the served document, decoded for jsonschema, with a compiler
// that knows it.
type apiDoc struct {
	root     map[string]any
	compiler *jsonschema.Compiler
}

// loadDoc reads the document from a running server: the YAML as written
// and the JSON converted from it.
func loadDoc(t *testing.T, base string) *apiDoc {
	t.Helper()
	get := func(path string) (string, []byte) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return resp.Header.Get("Content-Type"), b
	}
	ct, y := get("/api/v1/openapi.yaml")
	src, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ct, "application/yaml") || !bytes.Equal(y, src) {
		t.Errorf("GET /api/v1/openapi.yaml: Content-Type %q; body equals openapi.yaml: %v", ct, bytes.Equal(y, src))
	}
	ct, j := get("/api/v1/openapi.json")
	if !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET /api/v1/openapi.json: Content-Type %q", ct)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	root, ok := v.(map[string]any)
	if !ok || root["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json is not an OpenAPI 3.1.0 document: %.200s", j)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, root); err != nil {
		t.Fatal(err)
	}
	return &apiDoc{root: root, compiler: c}
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// ptr builds a JSON pointer from unescaped tokens.
func ptr(tokens ...string) string {
	var b strings.Builder
	for _, tok := range tokens {
		b.WriteString("/" + pointerEscaper.Replace(tok))
	}
	return b.String()
}

// at returns the value at a JSON pointer in the document.
func (d *apiDoc) at(t *testing.T, pointer string) any {
	t.Helper()
	var v any = d.root
	for _, tok := range strings.Split(pointer, "/")[1:] {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %q is not in an object", pointer, tok)
		}
		if v, ok = m[tok]; !ok {
			t.Fatalf("%s: no %q", pointer, tok)
		}
	}
	return v
}

// obj is at for objects, following an OpenAPI Reference Object ($ref) when
// there is one; it returns the object and the pointer it was found at.
func (d *apiDoc) obj(t *testing.T, pointer string) (map[string]any, string) {
	t.Helper()
	for range 10 {
		m, ok := d.at(t, pointer).(map[string]any)
		if !ok {
			t.Fatalf("%s is not an object", pointer)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, pointer
		}
		if !strings.HasPrefix(ref, "#/") {
			t.Fatalf("%s: $ref %q is not local", pointer, ref)
		}
		pointer = ref[1:]
	}
	t.Fatalf("%s: $ref loop", pointer)
	return nil, ""
}

// schema compiles the JSON Schema at pointer.
func (d *apiDoc) schema(t *testing.T, pointer string) *jsonschema.Schema {
	t.Helper()
	s, err := d.compiler.Compile(docURL + "#" + pointer)
	if err != nil {
		t.Fatalf("schema %s: %v", pointer, err)
	}
	return s
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations lists the documented operations as "METHOD /path".
func (d *apiDoc) operations(t *testing.T) []string {
	t.Helper()
	paths, _ := d.root["paths"].(map[string]any)
	var ops []string
	for path, item := range paths {
		m, _ := item.(map[string]any)
		for _, method := range httpMethods {
			if _, ok := m[method]; ok {
				ops = append(ops, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(ops)
	return ops
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	web, err := webform.New(webform.Config{}, nil, nil, nil, nil, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	doc := loadDoc(t, srv.URL)

	var routes []string
	for _, r := range web.Routes() {
		if strings.HasPrefix(r.Path, "/api/v1/") {
			routes = append(routes, r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}"))
		}
	}
	slices.Sort(routes)
	ops := doc.operations(t)
	for _, r := range routes {
		if !slices.Contains(ops, r) {
			t.Errorf("route %s is served but not in openapi.yaml", r)
		}
	}
	for _, op := range ops {
		if !slices.Contains(routes, op) {
			t.Errorf("openapi.yaml documents %s, which is not served", op)
		}
	}

	// Every path parameter is declared, every $ref resolves, every schema compiles.
	for _, op := range ops {
		method, path, _ := strings.Cut(op, " ")
		o, _ := doc.obj(t, ptr("paths", path, strings.ToLower(method)))
		params, _ := o["parameters"].([]any)
		for _, name := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
			found := false
			for _, p := range params {
				pm, _ := p.(map[string]any)
				found = found || pm["in"] == "path" && pm["name"] == name[1] && pm["required"] == true
			}
			if !found {
				t.Errorf("%s: path parameter %s is not declared (in: path, required)", op, name[1])
			}
		}
	}
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if ref, ok := e.(string); ok && k == "$ref" {
					if !strings.HasPrefix(ref, "#/") {
						t.Errorf("%s: $ref %q is not local", at, ref)
						continue
					}
					doc.at(t, ref[1:])
				}
				walk(e, at+ptr(k))
			}
		case []any:
			for i, e := range v {
				walk(e, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc.root, "")
	schemas, _ := doc.root["components"].(map[string]any)["schemas"].(map[string]any)
	for name := range schemas {
		doc.schema(t, ptr("components", "schemas", name))
	}
	example := doc.at(t, ptr("paths", "/api/v1/reports", "post", "requestBody", "content", "application/json", "example"))
	if err := doc.schema(t, ptr("components", "schemas", "ReportRequest")).Validate(example); err != nil {
		t.Errorf("the request example does not validate: %v", err)
	}
}

// check validates a real response against the document: its status must be
// documented for the operation, with its media type, its required headers,
// and a body the schema accepts. It returns the decoded body.
func (d *apiDoc) check(t *testing.T, method, path string, resp *http.Response, body []byte) map[string]any {
	t.Helper()
	status := strconv.Itoa(resp.StatusCode)
	op := method + " " + path
	r, at := d.obj(t, ptr("paths", path, strings.ToLower(method)))
	if _, ok := r["responses"].(map[string]any)[status]; !ok {
		t.Errorf("%s answered %s, which is not documented: %s", op, status, body)
		return nil
	}
	_, at = d.obj(t, at+ptr("responses", status))
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	content, _ := d.at(t, at+"/content").(map[string]any)
	if _, ok := content[mt]; !ok {
		t.Errorf("%s %s: media type %q is not documented", op, status, mt)
		return nil
	}
	if hs, ok := d.at(t, at).(map[string]any)["headers"].(map[string]any); ok {
		for name := range hs {
			h, hat := d.obj(t, at+ptr("headers", name))
			v := resp.Header.Get(name)
			if v == "" {
				if h["required"] == true {
					t.Errorf("%s %s: required header %s is missing", op, status, name)
				}
				continue
			}
			var hv any = v
			if typ := d.at(t, hat+"/schema/type"); typ == "integer" || typ == "number" {
				if hv, _ = jsonschema.UnmarshalJSON(strings.NewReader(v)); hv == nil {
					hv = v
				}
			}
			if err := d.schema(t, hat+"/schema").Validate(hv); err != nil {
				t.Errorf("%s %s: header %s: %q: %v", op, status, name, v, err)
			}
		}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s %s: body is not JSON: %s", op, status, body)
		return nil
	}
	if err := d.schema(t, at+ptr("content", mt, "schema")).Validate(inst); err != nil {
		t.Errorf("%s %s: the body does not match the document: %v\n%s", op, status, err, body)
	}
	m, _ := inst.(map[string]any)
	return m
}

// staffOnly lists the properties of a component schema marked x-staff-only.
func (d *apiDoc) staffOnly(t *testing.T, name string) []string {
	t.Helper()
	var out []string
	props, _ := d.at(t, ptr("components", "schemas", name, "properties")).(map[string]any)
	for p, s := range props {
		if m, _ := s.(map[string]any); m["x-staff-only"] == true {
			out = append(out, p)
		}
	}
	return out
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestOpenAPIResponsesValidate(t *testing.T) {
	e := newEnv(t, nil)
	doc := loadDoc(t, e.srv.URL)
	const reports, tickets = "/api/v1/reports", "/api/v1/tickets/{number}"
	report := `{"text":"小区门口井盖缺失","lat":39.9,"lon":116.4,"address":"东华门街道","contact":{"name":"王","phone":"13800138000"}}`
	want := func(t *testing.T, resp *http.Response, status int, body []byte) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
		}
	}

	resp, b := e.postJSON(t, "oa-1", report)
	want(t, resp, 201, b)
	first := doc.check(t, "POST", reports, resp, b)
	number, _ := first["number"].(string)
	resp, b = e.postJSON(t, "oa-1", report)
	want(t, resp, 200, b)
	// The replay's answer carries a new tracking token, which replaces the
	// first (only digests are stored).
	token, _ := doc.check(t, "POST", reports, resp, b)["track_token"].(string)
	body, ct := multipartBody(map[string]string{"text": "路灯不亮", "address": "长安街"}, file{"a.jpg", bytes.NewReader(jpegBytes(t, 32, 24))})
	resp, b = e.post(t, "oa-2", ct, body)
	want(t, resp, 201, b)
	doc.check(t, "POST", reports, resp, b)

	getTicket := func(query, bearer string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/tickets/"+number+query, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		return do(t, req)
	}
	newToken := func(role ticketing.Role) string {
		dept := ""
		if role == ticketing.RoleLiaison {
			dept = "swj"
		}
		secret, tok, err := ticketing.NewDepartmentToken(role, dept, "openapi test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.CreateToken(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	ticketStaff, eventStaff := doc.staffOnly(t, "Ticket"), doc.staffOnly(t, "Event")
	staffFields := func(v map[string]any) (ticket, events []string) {
		for _, f := range ticketStaff {
			if _, ok := v[f]; ok {
				ticket = append(ticket, f)
			}
		}
		tl, _ := v["timeline"].([]any)
		for _, ev := range tl {
			for _, f := range eventStaff {
				if _, ok := ev.(map[string]any)[f]; ok && !slices.Contains(events, f) {
					events = append(events, f)
				}
			}
		}
		return ticket, events
	}

	resp, b = getTicket("?token="+token, "")
	want(t, resp, 200, b)
	citizen := doc.check(t, "GET", tickets, resp, b)
	if tf, ef := staffFields(citizen); len(tf)+len(ef) > 0 {
		t.Errorf("the citizen view has staff-only fields %v %v", tf, ef)
	}
	for _, role := range []ticketing.Role{ticketing.RoleAdmin, ticketing.RoleLiaison} {
		resp, b = getTicket("", newToken(role))
		want(t, resp, 200, b)
		staff := doc.check(t, "GET", tickets, resp, b)
		if tf, ef := staffFields(staff); len(tf) == 0 || len(ef) == 0 {
			t.Errorf("the %s view shows staff-only fields %v on the ticket and %v on events; want some of each", role, tf, ef)
		}
	}

	errorCases := []struct {
		name   string
		status int
		req    func() (*http.Response, []byte)
		path   string
	}{
		{"empty text", 400, func() (*http.Response, []byte) { return e.postJSON(t, "", `{"text":" "}`) }, reports},
		{"unknown field", 400, func() (*http.Response, []byte) { return e.postJSON(t, "", `{"text":"x","colour":"red"}`) }, reports},
		{"cross-site POST", 403, func() (*http.Response, []byte) {
			req, _ := http.NewRequest("POST", e.srv.URL+reports, strings.NewReader(`{"text":"x"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			return do(t, req)
		}, reports},
		{"reused key", 409, func() (*http.Response, []byte) { return e.postJSON(t, "oa-1", `{"text":"另一件事"}`) }, reports},
		{"body over 64 KB", 413, func() (*http.Response, []byte) {
			return e.postJSON(t, "", `{"text":"`+strings.Repeat("a", 70<<10)+`"}`)
		}, reports},
		{"form-encoded", 415, func() (*http.Response, []byte) {
			return e.post(t, "", "application/x-www-form-urlencoded", strings.NewReader("text=x"))
		}, reports},
		{"no token", 401, func() (*http.Response, []byte) { return getTicket("", "") }, tickets},
		{"bad bearer", 401, func() (*http.Response, []byte) { return getTicket("", "yh_nope") }, tickets},
		{"open311 key", 403, func() (*http.Response, []byte) { return getTicket("", newToken(ticketing.RoleOpen311)) }, tickets},
		{"wrong token", 404, func() (*http.Response, []byte) { return getTicket("?token=nope", "") }, tickets},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := tc.req()
			want(t, resp, tc.status, b)
			method := "POST"
			if tc.path == tickets {
				method = "GET"
			}
			doc.check(t, method, tc.path, resp, b)
		})
	}

	t.Run("rate limited", func(t *testing.T) {
		e := newEnv(t, limit.NewLocal(limit.PerMinute(60, 1)))
		var resp *http.Response
		var b []byte
		for i := range 5 { // a burst of 1, then the limit
			if resp, b = e.postJSON(t, "", `{"text":"井盖 `+strconv.Itoa(i)+`"}`); resp.StatusCode != 201 {
				break
			}
		}
		want(t, resp, 429, b)
		doc.check(t, "POST", reports, resp, b)
	})
}

// TestOpenAPISchemasMatchTypes compares the schemas with the Go types the
// handlers encode: the same fields, the same JSON types, and a field is
// required exactly when it is never omitted. A field added to a response
// type without documenting it fails here.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	web, err := webform.New(webform.Config{}, nil, nil, nil, nil, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	doc := loadDoc(t, srv.URL)
	for name, typ := range map[string]reflect.Type{
		"ReportResponse": reflect.TypeFor[webform.ReportResponse](),
		"Ticket":         reflect.TypeFor[webform.TicketView](),
		"Event":          reflect.TypeFor[webform.EventView](),
		"Error":          reflect.TypeFor[webform.APIError](),
	} {
		doc.compareStruct(t, name, typ, ptr("components", "schemas", name), true)
	}
	// Requests: the same fields (unknown ones are refused), whatever is required.
	doc.compareStruct(t, "ReportRequest", reflect.TypeFor[webform.ReportRequest](), ptr("components", "schemas", "ReportRequest"), false)
	form := []string{"photos"}
	for f := range webform.FormFields {
		form = append(form, f)
	}
	if got := doc.propertyNames(t, ptr("components", "schemas", "ReportForm")); !sameSet(got, form) {
		t.Errorf("ReportForm documents %v; the handler reads %v", got, form)
	}
	// The error envelope, and the workflow's statuses.
	if got := doc.propertyNames(t, ptr("components", "schemas", "ErrorResponse")); !sameSet(got, []string{"error"}) {
		t.Errorf("ErrorResponse documents %v; the handler sends {\"error\": ...}", got)
	}
	var statuses []string
	for _, s := range ticketing.Statuses {
		statuses = append(statuses, string(s))
	}
	var enum []string
	for _, s := range doc.at(t, ptr("components", "schemas", "Status", "enum")).([]any) {
		enum = append(enum, s.(string))
	}
	if !sameSet(enum, statuses) {
		t.Errorf("Status documents %v; the workflow has %v", enum, statuses)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}

// resolve follows a schema's $ref (siblings such as description stay with
// the referring schema; the type is the target's).
func (d *apiDoc) resolve(t *testing.T, pointer string) (map[string]any, string) {
	t.Helper()
	for range 10 {
		m, ok := d.at(t, pointer).(map[string]any)
		if !ok {
			t.Fatalf("%s is not a schema object", pointer)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, pointer
		}
		pointer = strings.TrimPrefix(ref, "#")
	}
	t.Fatalf("%s: $ref loop", pointer)
	return nil, ""
}

func (d *apiDoc) propertyNames(t *testing.T, pointer string) []string {
	t.Helper()
	s, _ := d.resolve(t, pointer)
	props, _ := s["properties"].(map[string]any)
	var names []string
	for p := range props {
		names = append(names, p)
	}
	return names
}

var timeType = reflect.TypeFor[time.Time]()

// compareStruct checks the schema at pointer against struct type typ,
// recursing into nested structs, pointers to them and slices of them.
func (d *apiDoc) compareStruct(t *testing.T, name string, typ reflect.Type, pointer string, response bool) {
	t.Helper()
	s, pointer := d.resolve(t, pointer)
	if s["type"] != "object" || s["additionalProperties"] != false {
		t.Errorf("%s (%s): want type object and additionalProperties false", name, pointer)
	}
	props, _ := s["properties"].(map[string]any)
	var required []string
	if r, ok := s["required"].([]any); ok {
		for _, f := range r {
			required = append(required, f.(string))
		}
	}
	emitted := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		jname, opts, _ := strings.Cut(tag, ",")
		if jname == "" {
			jname = f.Name
		}
		emitted[jname] = true
		where := name + "." + jname
		if _, ok := props[jname]; !ok {
			t.Errorf("%s (Go %s.%s) is not documented in %s", where, typ, f.Name, pointer)
			continue
		}
		omitempty := slices.Contains(strings.Split(opts, ","), "omitempty")
		if req := slices.Contains(required, jname); response && omitempty == req {
			t.Errorf("%s: omitempty is %v and required is %v; a field is required exactly when never omitted", where, omitempty, req)
		}
		d.compareType(t, where, f.Type, pointer+ptr("properties", jname), response)
	}
	for p := range props {
		if !emitted[p] {
			t.Errorf("%s.%s is documented in %s but %s has no such field", name, p, pointer, typ)
		}
	}
}

func (d *apiDoc) compareType(t *testing.T, where string, typ reflect.Type, pointer string, response bool) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	s, at := d.resolve(t, pointer)
	want := ""
	switch {
	case typ == timeType:
		want = "string"
		if s["format"] != "date-time" {
			t.Errorf("%s: a time; want format date-time", where)
		}
	case typ.Kind() == reflect.String:
		want = "string"
	case typ.Kind() == reflect.Bool:
		want = "boolean"
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		want = "integer"
	case typ.Kind() == reflect.Float32 || typ.Kind() == reflect.Float64:
		want = "number"
	case typ.Kind() == reflect.Slice:
		want = "array"
		if s["type"] == want {
			d.compareType(t, where+"[]", typ.Elem(), at+"/items", response)
		}
	case typ.Kind() == reflect.Struct:
		want = "object"
		if s["type"] == want {
			d.compareStruct(t, where, typ, at, response)
		}
	default:
		t.Errorf("%s: Go type %s has no rule here", where, typ)
		return
	}
	if s["type"] != want {
		t.Errorf("%s: Go %s is JSON %s; the document says %v", where, typ, want, s["type"])
	}
}
