package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// trustProxies makes gin believe X-Forwarded-For from the configured
// reverse proxies only (addresses or CIDR prefixes; an empty list trusts
// nobody, so the peer is always the client). gin walks the header from the
// right and stops at the first address that is not a trusted proxy: each
// proxy appends the address it saw, so anything left of that is the
// client's own claim. X-Real-IP and platform headers are never believed.
func trustProxies(e *gin.Engine, list []string) error {
	trusted, err := ParseProxies(list)
	if err != nil {
		return err
	}
	e.ForwardedByClientIP = true
	e.RemoteIPHeaders = []string{"X-Forwarded-For"}
	e.TrustedPlatform = ""
	// nil, not empty: gin trusts everyone until told otherwise.
	return e.SetTrustedProxies(trusted)
}

// ParseProxies checks the trusted proxies (trusted_proxies): each an
// address or a CIDR prefix, blanks ignored. It returns them in gin's form.
func ParseProxies(list []string) ([]string, error) {
	var out []string
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if pre, err := netip.ParsePrefix(s); err == nil {
			out = append(out, pre.Masked().String())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxies: %q is neither an address nor a CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()).String())
	}
	return out, nil
}

type clientAddrKey struct{}

// clientAddr resolves each request's client address once, at the door,
// for ClientAddr to read anywhere behind it: the limiters, the sign-in
// throttles and the audit log all see the citizen or the member of staff,
// not the proxy, and nobody else can claim an address by sending a header.
func clientAddr(c *gin.Context) {
	a := c.ClientIP()
	if p, err := netip.ParseAddr(a); err == nil {
		a = p.Unmap().String()
	} else {
		a = peerAddr(c.Request.RemoteAddr)
	}
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), clientAddrKey{}, a))
	c.Next()
}

// ClientAddr is the client address the engine resolved for r; behind no
// engine (a handler tested on its own), the peer's address.
func ClientAddr(r *http.Request) string {
	if a, ok := r.Context().Value(clientAddrKey{}).(string); ok {
		return a
	}
	return peerAddr(r.RemoteAddr)
}

// peerAddr is the host of a RemoteAddr.
func peerAddr(remote string) string {
	h, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return h
}
