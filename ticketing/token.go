package ticketing

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Role is what a staff or integration token may do.
type Role string

const (
	RoleAdmin      Role = "admin"
	RoleAgent      Role = "agent"
	RoleDispatcher Role = "dispatcher"
	RoleLiaison    Role = "liaison"
	RoleOpen311    Role = "open311"
	RoleCTI        Role = "cti" // a PBX posting call events (POST /api/v1/cti/{token})
)

// ValidRole reports whether r is a known role.
func ValidRole(r Role) bool {
	switch r {
	case RoleAdmin, RoleAgent, RoleDispatcher, RoleLiaison, RoleOpen311, RoleCTI:
		return true
	}
	return false
}

// Token is an API credential. Only its SHA-256 digest is stored: the secret
// is long and random, so a fast hash is enough and checking it per request
// costs microseconds, not the tens of milliseconds of a password hash.
type Token struct {
	ID        int64
	Name      string
	Role      Role
	Hash      string
	CreatedAt time.Time
	// User is the login name of the user the token acts for (NewUserToken);
	// empty for an integration's token. Stores refuse a token naming no
	// stored user (ErrConflict). Whoever checks the token must also check
	// that the user is still enabled and still has Role.
	User string
}

// TokenPrefix marks Yihao tokens so leaked ones are easy to find in logs and repos.
const TokenPrefix = "yh_"

// NewToken returns a fresh secret and the record to store for it.
func NewToken(role Role, name string, now time.Time) (secret string, tok *Token, err error) {
	if !ValidRole(role) {
		return "", nil, Invalid("role", "unknown role %q", role)
	}
	secret = TokenPrefix + rand.Text() + rand.Text()
	return secret, &Token{Name: name, Role: role, Hash: HashToken(secret), CreatedAt: now}, nil
}

// HashToken is the stored form of a token secret.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
