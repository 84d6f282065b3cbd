package webform_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// Whatever a client sends to the JSON API, the answer is a clear refusal
// or a ticket: never a 500, never a ticket without a number.
func FuzzReportJSON(f *testing.F) {
	for _, s := range []string{
		`{"text":"路灯不亮","lat":39.9,"lon":116.4}`,
		`{"text":"井盖缺失","category":"0101","address":"东华门大街","contact":{"name":"王","phone":"13800138000"}}`,
		`{"text":""}`, `{"text":"x","lat":91}`, `{"text":"x","lat":1}`, `{"text":"x"}{}`, `[]`, `null`, `{"text":"\u0000"}`,
		`{"text":"x","contact":{"phone":"+86 (10) 6512-3456"}}`, `{"text":"x","extra":1}`, `{"text":1}`,
	} {
		f.Add(s)
	}
	e := newEnv(f, nil)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, body string) {
		key := "fuzz-" + strconv.FormatInt(n.Add(1), 10)
		resp, b := e.post(t, key, "application/json", strings.NewReader(body))
		switch resp.StatusCode {
		case http.StatusCreated, http.StatusOK:
			var c created
			if err := json.Unmarshal(b, &c); err != nil || len(c.Number) != 14 {
				t.Fatalf("%d without a ticket number: %s", resp.StatusCode, b)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusConflict:
			if !strings.Contains(string(b), `"error"`) {
				t.Fatalf("%d without an error body: %s", resp.StatusCode, b)
			}
		default:
			t.Fatalf("status %d for %q: %s", resp.StatusCode, body, b)
		}
	})
}
