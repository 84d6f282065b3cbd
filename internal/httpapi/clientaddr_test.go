package httpapi_test

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/internal/httpapi"
)

func TestClientAddr(t *testing.T) {
	e, err := httpapi.New(httpapi.Config{TrustedProxies: []string{"10.0.0.0/8", " 192.0.2.1 ", "2001:db8::1"}})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	e.GET("/", func(c *gin.Context) { got = httpapi.ClientAddr(c.Request) })
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy, no header", "198.51.100.7:4000", nil, "198.51.100.7"},
		{"untrusted peer's header ignored", "198.51.100.7:4000", []string{"203.0.113.1"}, "198.51.100.7"},
		{"trusted proxy names the client", "10.1.2.3:4000", []string{"203.0.113.1"}, "203.0.113.1"},
		{"client's own claim left of it ignored", "10.1.2.3:4000", []string{"1.1.1.1, 203.0.113.1"}, "203.0.113.1"},
		{"chain of proxies walked", "10.1.2.3:4000", []string{"203.0.113.1, 192.0.2.1", "10.9.9.9"}, "203.0.113.1"},
		{"all proxies: the left-most", "10.1.2.3:4000", []string{"10.2.2.2"}, "10.2.2.2"},
		{"garbage stops at the proxy", "10.1.2.3:4000", []string{"203.0.113.1, bogus"}, "10.1.2.3"},
		{"no header: the proxy", "10.1.2.3:4000", nil, "10.1.2.3"},
		{"IPv6 proxy", "[2001:db8::1]:4000", []string{"2001:db8:1::5"}, "2001:db8:1::5"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:4000", []string{"203.0.113.1"}, "203.0.113.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got = ""
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			e.ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Errorf("client %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := httpapi.New(httpapi.Config{TrustedProxies: []string{"not-an-address"}}); err == nil {
		t.Error("a bad trusted proxy was accepted")
	}
	// Behind no engine, the peer.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "198.51.100.7:1"
	r.Header.Set("X-Forwarded-For", "203.0.113.1")
	if got := httpapi.ClientAddr(r); got != "198.51.100.7" {
		t.Errorf("without the resolver: %q", got)
	}
}
