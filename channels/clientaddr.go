package channels

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies decides who is at the other end of an HTTP request: the peer,
// unless the peer is one of the configured reverse proxies (trusted_proxies),
// whose X-Forwarded-For is then believed. It is the one answer every door,
// limiter and audit entry uses, so that behind a TLS proxy the sign-in
// throttle, the intake limit and the audit log all see the citizen or the
// member of staff, not the proxy, and so that nobody else can claim an
// address by sending the header.
type Proxies struct {
	trusted []netip.Prefix
}

// NewProxies parses the trusted proxies: addresses or CIDR prefixes. An
// empty list trusts nobody: the peer is always the client.
func NewProxies(list []string) (*Proxies, error) {
	p := &Proxies{}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		pre, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("trusted proxies: %q is neither an address nor a CIDR prefix", s)
			}
			pre = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		p.trusted = append(p.trusted, pre.Masked())
	}
	return p, nil
}

func (p *Proxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, pre := range p.trusted {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve is the client's address for r: the peer's, or, when the peer is
// a trusted proxy, the right-most address of X-Forwarded-For that is not
// itself a trusted proxy (each proxy appends the address it saw, so
// anything left of that is the client's own claim). A malformed entry
// stops the walk at the last proxy reached.
func (p *Proxies) Resolve(r *http.Request) string {
	peer := peerAddr(r.RemoteAddr)
	a, err := netip.ParseAddr(peer)
	if err != nil || p == nil || !p.trusts(a) {
		return peer
	}
	client := a.Unmap()
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		list := strings.Split(hops[i], ",")
		for j := len(list) - 1; j >= 0; j-- {
			h, err := netip.ParseAddr(strings.TrimSpace(list[j]))
			if err != nil {
				return client.String()
			}
			client = h.Unmap()
			if !p.trusts(client) {
				return client.String()
			}
		}
	}
	return client.String()
}

type clientAddrKey struct{}

// Handler resolves each request's client address once, at the door, for
// ClientAddr to read anywhere behind it.
func (p *Proxies) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), clientAddrKey{}, p.Resolve(r))
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ClientAddr is the client address Proxies.Handler resolved for r; behind
// no such handler (a door tested on its own), the peer's address.
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
