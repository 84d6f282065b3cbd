package hotline

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/icholy/digest"
)

// Nonces are signed, not stored: any instance holding the same secret can
// check a nonce another instance issued, and a restart forgets nothing.
// Their use is stored (see check).
// A nonce is base64url(issued-at µs | 8 random bytes | HMAC-SHA256[:16]).
type nonces struct {
	secret []byte
	ttl    time.Duration
}

const nonceLen = 8 + 8 + 16

func (n nonces) issue(now time.Time) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMicro()))
	rand.Read(b[8:16]) // crypto/rand never fails on Linux
	copy(b[16:], n.mac(b[:16]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (n nonces) mac(msg []byte) []byte {
	h := hmac.New(sha256.New, n.secret)
	h.Write(msg)
	return h.Sum(nil)[:16]
}

var (
	errNonceForged = errors.New("nonce not issued by this registrar")
	errNonceStale  = errors.New("nonce expired")
)

// check says whether nonce is ours and still fresh, and when it expires.
// A stale nonce is answered with a new challenge marked stale=true, so
// phones retry without asking their user for the password again.
//
// Signing makes a nonce checkable anywhere, not single-use: the registrar
// also records each (nonce, nonce-count) it accepts in a
// sipauth.NonceLedger until the nonce expires, so a captured Authorization
// is refused the second time.
func (n nonces) check(nonce string, now time.Time) (time.Time, error) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceLen {
		return time.Time{}, errNonceForged
	}
	if !hmac.Equal(b[16:], n.mac(b[:16])) {
		return time.Time{}, errNonceForged
	}
	issued := time.UnixMicro(int64(binary.BigEndian.Uint64(b[:8])))
	if age := now.Sub(issued); age > n.ttl || age < -time.Minute {
		return time.Time{}, errNonceStale
	}
	return issued.Add(n.ttl), nil
}

// challenge is the WWW-Authenticate value for a fresh nonce.
func (n nonces) challenge(realm string, now time.Time, stale bool) string {
	c := digest.Challenge{Realm: realm, Nonce: n.issue(now), Algorithm: "MD5", QOP: []string{"auth"}, Stale: stale}
	return c.String()
}

// digestResponse is the response a client with ha1 must send (RFC 2617
// §3.2.2.1, MD5, qop auth or none).
func digestResponse(ha1, method string, c *digest.Credentials) (string, error) {
	switch c.Algorithm {
	case "", "MD5", "md5":
	default:
		return "", fmt.Errorf("algorithm %q not supported", c.Algorithm)
	}
	ha2 := md5hex(method + ":" + c.URI)
	switch c.QOP {
	case "":
		return md5hex(ha1 + ":" + c.Nonce + ":" + ha2), nil
	case "auth":
		return md5hex(fmt.Sprintf("%s:%s:%08x:%s:auth:%s", ha1, c.Nonce, c.Nc, c.Cnonce, ha2)), nil
	}
	return "", fmt.Errorf("qop %q not supported", c.QOP)
}

// digestMatches compares in constant time.
func digestMatches(want, got string) bool {
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
