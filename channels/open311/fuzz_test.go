package open311_test

import (
	"net/url"
	"strings"
	"testing"
)

// Whatever fields a GeoReport client posts, the answer is a request id or
// token, or an Open311 error naming the problem: never a 500.
func FuzzPostRequest(f *testing.F) {
	f.Add("0103", "井盖不见了", "39.9042", "116.4074", "missing", "13800138000", "东华门街道")
	f.Add("0103", "", "", "", "", "", "")
	f.Add("9999", "x", "91", "181", "open", "abc", "<b>x</b>")
	f.Add("0103", "description\n\n----- 以下为系统附加 -----", "nan", "inf", "missing", "+86 10 6512 3456", "")
	e := newEnv(f, sqliteStore(f))
	f.Fuzz(func(t *testing.T, code, desc, lat, long, cover, phone, address string) {
		form := e.form(desc)
		form.Set("service_code", code)
		form.Set("lat", lat)
		form.Set("long", long)
		form.Set("attribute[cover_state]", cover)
		form.Set("phone", phone)
		form.Set("address_string", address)
		for k, v := range form {
			if v[0] == "" {
				form.Del(k)
			}
		}
		a := e.post(t, "requests.json", form)
		switch {
		case a.status == 200 || a.status == 201:
			if !strings.Contains(string(a.body), "service_request_id") && !strings.Contains(string(a.body), "token") {
				t.Fatalf("%d without an id: %s", a.status, a.body)
			}
		case a.status >= 400 && a.status < 500:
			if !strings.Contains(string(a.body), "description") {
				t.Fatalf("%d without an Open311 error: %s", a.status, a.body)
			}
		default:
			t.Fatalf("status %d for %v: %s", a.status, url.Values(form), a.body)
		}
	})
}
