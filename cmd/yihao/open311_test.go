package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The binary serves Open311 GeoReport v2 beside the web door.
func TestServeOpen311(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := e2eStart(ctx, t, map[string]string{"YIHAO_DATA_DIR": t.TempDir(), "YIHAO_OPEN311_JURISDICTION": "shifan.gov.cn"})
	for _, tc := range []struct{ path, want string }{
		{"/open311/v2/discovery.xml", "<specification>http://wiki.open311.org/GeoReport_v2</specification>"},
		{"/open311/v2/services.xml?jurisdiction_id=shifan.gov.cn", "<service_code>0103</service_code>"},
		{"/open311/v2/services/0103.json", `"code":"cover_state"`},
	} {
		status, body := get(t, srv.base+tc.path, "")
		if status != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d, body lacks %q:\n%s", tc.path, status, tc.want, body)
		}
	}
	if status, body := get(t, srv.base+"/open311/v2/services.xml?jurisdiction_id=elsewhere", ""); status != 404 || !strings.Contains(body, "<code>404</code>") {
		t.Errorf("unknown jurisdiction: %d %s", status, body)
	}
}
