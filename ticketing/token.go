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
	// RoleSupervisor is a grid supervisor (网格监督员): reports problems
	// found on patrol through the field door, and checks cases on the spot.
	RoleSupervisor Role = "supervisor"
	RoleOpen311    Role = "open311"
	RoleCTI        Role = "cti" // a PBX posting call events (POST /api/v1/cti/{token})
)

// ValidRole reports whether r is a known role.
func ValidRole(r Role) bool {
	switch r {
	case RoleAdmin, RoleAgent, RoleDispatcher, RoleLiaison, RoleSupervisor, RoleOpen311, RoleCTI:
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
	// Department is the department an integration's liaison token acts
	// for; a liaison token needs one (Validate), a user's token takes the
	// user's, and other roles have none.
	Department string
}

// TokenPrefix marks Yihao tokens so leaked ones are easy to find in logs and repos.
const TokenPrefix = "yh_"

// NewToken returns a fresh secret and the record to store for it. A
// liaison's token needs a department: NewDepartmentToken.
func NewToken(role Role, name string, now time.Time) (secret string, tok *Token, err error) {
	return NewDepartmentToken(role, "", name, now)
}

// NewDepartmentToken is NewToken for a role that acts in a department (a
// liaison's integration, such as a department's own system).
func NewDepartmentToken(role Role, department, name string, now time.Time) (secret string, tok *Token, err error) {
	secret = TokenPrefix + rand.Text() + rand.Text()
	tok = &Token{Name: name, Role: role, Department: department, Hash: HashToken(secret), CreatedAt: now}
	if err := tok.Validate(); err != nil {
		return "", nil, err
	}
	return secret, tok, nil
}

// Validate checks a token before it is stored (stores call it) and before
// it is used: a liaison token that is not a user's needs a department, or
// it would act for none (or, worse, for all).
func (t *Token) Validate() error {
	if !ValidRole(t.Role) {
		return Invalid("role", "unknown role %q", t.Role)
	}
	switch {
	case t.User != "" && t.Department != "":
		return Invalid("department", "a user's token acts in the user's department; give none")
	case t.User == "" && t.Role == RoleLiaison && t.Department == "":
		return Invalid("department", "a liaison token needs a department (--department CODE) or a user (--user NAME)")
	case t.Role != RoleLiaison && t.Department != "":
		return Invalid("department", "only a liaison token belongs to a department")
	case !validDepartment(t.Department):
		return Invalid("department", "must be a department code: at most %d printable characters without spaces", MaxDepartmentCodeLen)
	}
	if len(t.Hash) != sha256.Size*2 {
		return Invalid("hash", "must be a SHA-256 digest from HashToken")
	}
	return nil
}

// HashToken is the stored form of a token secret.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
