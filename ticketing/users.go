package ticketing

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// User is a member of staff who signs in to the desks: a call-centre agent
// (话务员), a dispatcher (派单员), a department liaison (联络员), a grid
// supervisor in the field (网格监督员) or an administrator. Only an argon2id hash of the password is
// stored. Users are disabled, never deleted, so the audit trail keeps
// naming someone who existed.
type User struct {
	Name        string // login name, 2–32 of [a-z0-9._-]; never changes
	DisplayName string // shown on the desks, at most 64 printable characters
	Role        Role   // admin, agent, dispatcher, liaison or supervisor (StaffRole)
	Department  string // the liaison's department code; empty for other roles
	// Area is the code of the area a dispatcher's or supervisor's centre
	// covers (a district, street or community; 属地管理): they see only
	// that area's tickets. Empty is the city, and the only value for the
	// other roles.
	Area string
	// Cells are the unit grid cells assigned to a supervisor, within Area:
	// their tasks come from these cells only. Empty: every cell of Area,
	// shared with the area's other supervisors.
	Cells []string
	// PasswordHash is the PHC string HashPassword returns; never the password.
	PasswordHash string
	Disabled     bool // may not sign in; its tokens must be refused
	// CreatedAt is kept from the first PutUser; zero there means UpdatedAt.
	CreatedAt, UpdatedAt time.Time
	// SessionEpoch is moved on by EndUserSessions (signing out): a desk
	// session carries the epoch it began in and holds only while it is
	// the user's. PutUser keeps the stored one.
	SessionEpoch int64
}

// Limits on a user's fields and password.
const (
	MinUserNameLen       = 2
	MaxUserNameLen       = 32
	MaxUserDisplayRunes  = 64
	MaxDepartmentCodeLen = 64
	MinPasswordRunes     = 10
	MaxPasswordBytes     = 1024 // longer ones are refused before hashing
	MaxUserCells         = 200  // a supervisor walks a few dozen cells at most
)

const (
	userNameChars          = "abcdefghijklmnopqrstuvwxyz0123456789._-"
	maxPasswordHashLen     = 512 // a stored hash longer than this is malformed
	passwordHashAlgorithm  = "argon2id"
	passwordHashVersionStr = "v=19"
)

// The argon2id cost of new hashes (RFC 9106 §4 and OWASP's guidance): 64 MiB,
// one pass, two lanes; about 60 ms on a two-core machine. Each hash or
// check holds its 64 MiB while it runs, so sign-in must bound how many run
// at once (login throttling). API requests use tokens, never this.
const (
	argonMemoryKiB = 64 * 1024
	argonTime      = 1
	argonThreads   = 2
	argonSaltLen   = 16
	argonKeyLen    = 32
)

// Bounds on the parameters CheckPassword accepts from a stored hash, so a
// hash written by a hostile or broken tool cannot make one check take
// gigabytes of memory or minutes of CPU.
const (
	maxArgonMemoryKiB = 256 * 1024
	maxArgonTime      = 10
	maxArgonThreads   = 16
	minArgonSaltLen   = 8
	maxArgonSaltLen   = 64
	minArgonKeyLen    = 16
	maxArgonKeyLen    = 64
)

// StaffRole reports whether r is a role a person signs in with (the others,
// open311 and cti, are for integrations' tokens only).
func StaffRole(r Role) bool {
	switch r {
	case RoleAdmin, RoleAgent, RoleDispatcher, RoleLiaison, RoleSupervisor:
		return true
	}
	return false
}

// AreaRole reports whether users of role r may belong to an area below
// the city: the district and street centres' dispatchers and the grid's
// supervisors. Agents answer the city's one number, liaisons are scoped
// by their department, admins run the whole system.
func AreaRole(r Role) bool { return r == RoleDispatcher || r == RoleSupervisor }

// CheckPasswordPolicy refuses passwords shorter than MinPasswordRunes
// characters or longer than MaxPasswordBytes bytes. The error never
// contains the password.
func CheckPasswordPolicy(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordRunes {
		return Invalid("password", "must be at least %d characters", MinPasswordRunes)
	}
	if len(pw) > MaxPasswordBytes {
		return Invalid("password", "must be at most %d bytes", MaxPasswordBytes)
	}
	return nil
}

// HashPassword checks pw against the policy and returns its argon2id hash in
// the PHC string format, with a fresh random salt:
//
//	$argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash>
//
// (salt and hash in unpadded standard base64).
func HashPassword(pw string) (string, error) {
	if err := CheckPasswordPolicy(pw); err != nil {
		return "", err
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := argonParams{memory: argonMemoryKiB, time: argonTime, threads: argonThreads, salt: salt}
	key := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, argonKeyLen)
	return p.format(key), nil
}

// CheckPassword reports whether pw matches hash, a string HashPassword
// returned (possibly with other parameters). It is false for a malformed
// hash and for a hash whose parameters are beyond sane bounds, without
// doing the work they ask for. The comparison takes constant time.
func CheckPassword(hash, pw string) bool {
	if len(pw) > MaxPasswordBytes {
		return false
	}
	p, want, ok := parsePasswordHash(hash)
	if !ok {
		return false
	}
	got := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

type argonParams struct {
	memory, time uint32
	threads      uint8
	salt         []byte
}

func (p argonParams) format(key []byte) string {
	enc := base64.RawStdEncoding
	return "$" + passwordHashAlgorithm + "$" + passwordHashVersionStr +
		"$m=" + strconv.FormatUint(uint64(p.memory), 10) +
		",t=" + strconv.FormatUint(uint64(p.time), 10) +
		",p=" + strconv.FormatUint(uint64(p.threads), 10) +
		"$" + enc.EncodeToString(p.salt) + "$" + enc.EncodeToString(key)
}

// parsePasswordHash reads an argon2id PHC string strictly: the fields in
// order, decimal numbers without signs or leading zeros, unpadded base64,
// every parameter within bounds.
func parsePasswordHash(s string) (p argonParams, key []byte, ok bool) {
	if len(s) > maxPasswordHashLen {
		return p, nil, false
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != passwordHashAlgorithm || f[2] != passwordHashVersionStr {
		return p, nil, false
	}
	params := strings.Split(f[3], ",")
	if len(params) != 3 {
		return p, nil, false
	}
	var v [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		n, found := strings.CutPrefix(params[i], name)
		if !found {
			return p, nil, false
		}
		x, err := strconv.ParseUint(n, 10, 32)
		if err != nil || strconv.FormatUint(x, 10) != n {
			return p, nil, false
		}
		v[i] = x
	}
	memory, time, threads := v[0], v[1], v[2]
	if threads < 1 || threads > maxArgonThreads || time < 1 || time > maxArgonTime ||
		memory < 8*threads || memory > maxArgonMemoryKiB {
		return p, nil, false
	}
	// The decoder skips line breaks; re-encoding refuses them.
	enc := base64.RawStdEncoding.Strict()
	salt, err := enc.DecodeString(f[4])
	if err != nil || len(salt) < minArgonSaltLen || len(salt) > maxArgonSaltLen || enc.EncodeToString(salt) != f[4] {
		return p, nil, false
	}
	key, err = enc.DecodeString(f[5])
	if err != nil || len(key) < minArgonKeyLen || len(key) > maxArgonKeyLen || enc.EncodeToString(key) != f[5] {
		return p, nil, false
	}
	return argonParams{memory: uint32(memory), time: uint32(time), threads: uint8(threads), salt: salt}, key, true
}

// SignInLimiter caps attempts per key (limit.Local, the Redis limiter);
// when not allowed, how long to wait.
type SignInLimiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// AllowSignIn asks l for one more sign-in attempt from address ip as name,
// the one policy of every door that signs people in: the address's key
// (prefix + ":ip:") and, for a name that could be a user's, the name's
// (prefix + ":name:") must both allow; only real-looking names get a key
// of their own, so random names cannot fill the limiter, and the address
// limit covers those. A limiter that fails lets the attempt through and
// its error is returned for the log: staff must be able to sign in while
// Redis is down, and the password-check semaphore still bounds the rate.
// A nil l allows every attempt.
func AllowSignIn(ctx context.Context, l SignInLimiter, prefix, ip, name string) (wait time.Duration, ok bool, err error) {
	if l == nil {
		return 0, true, nil
	}
	keys := []string{prefix + ":ip:" + ip}
	if ValidUserName(name) {
		keys = append(keys, prefix+":name:"+name)
	}
	for _, k := range keys {
		allowed, wait, lerr := l.Allow(ctx, k)
		if lerr != nil {
			err = cmp.Or(err, lerr)
			continue
		}
		if !allowed {
			return wait, false, err
		}
	}
	return 0, true, err
}

// ValidUserName reports whether name is a well-formed login name.
func ValidUserName(name string) bool {
	return len(name) >= MinUserNameLen && len(name) <= MaxUserNameLen && strings.Trim(name, userNameChars) == ""
}

// Validate checks a user before it is stored. The error names the first
// field at fault.
func (u *User) Validate() error {
	if !ValidUserName(u.Name) {
		return Invalid("name", "must be %d to %d of a-z, 0-9, '.', '_' and '-'", MinUserNameLen, MaxUserNameLen)
	}
	if !utf8.ValidString(u.DisplayName) || utf8.RuneCountInString(u.DisplayName) > MaxUserDisplayRunes ||
		!printable(u.DisplayName) {
		return Invalid("displayName", "must be at most %d printable characters", MaxUserDisplayRunes)
	}
	if !StaffRole(u.Role) {
		return Invalid("role", "must be admin, agent, dispatcher, liaison or supervisor")
	}
	switch {
	case u.Role == RoleLiaison && u.Department == "":
		return Invalid("department", "a liaison needs a department")
	case u.Role != RoleLiaison && u.Department != "":
		return Invalid("department", "only a liaison belongs to a department")
	case !validDepartment(u.Department):
		return Invalid("department", "must be a department code: at most %d printable characters without spaces", MaxDepartmentCodeLen)
	case u.Area != "" && !AreaRole(u.Role):
		return Invalid("area", "only a dispatcher or a supervisor belongs to an area; a %s works for the whole city", u.Role)
	case !validDepartment(u.Area):
		return Invalid("area", "must be an area code: at most %d printable characters without spaces", MaxDepartmentCodeLen)
	case len(u.Cells) > 0 && u.Role != RoleSupervisor:
		return Invalid("cells", "only a supervisor has grid cells assigned")
	case len(u.Cells) > MaxUserCells:
		return Invalid("cells", "at most %d cells per supervisor", MaxUserCells)
	}
	for i, c := range u.Cells {
		if c == "" || !validDepartment(c) || strings.Contains(c, ",") {
			return Invalid("cells", "%q is not a grid cell code", c)
		}
		if slices.Contains(u.Cells[:i], c) {
			return Invalid("cells", "cell %s is listed twice", c)
		}
	}
	if _, _, ok := parsePasswordHash(u.PasswordHash); !ok {
		return Invalid("passwordHash", "must be an argon2id hash from HashPassword")
	}
	if u.UpdatedAt.IsZero() {
		return Invalid("updatedAt", "missing time")
	}
	return nil
}

// validDepartment checks a department code's form (empty is valid here).
func validDepartment(d string) bool {
	return len(d) <= MaxDepartmentCodeLen && utf8.ValidString(d) && printable(d) && !strings.ContainsFunc(d, unicode.IsSpace)
}

// NewUserToken returns a fresh API token acting for u, with u's role; its
// name is name, or u's name when name is empty. A disabled user gets none.
func NewUserToken(u *User, name string, now time.Time) (secret string, tok *Token, err error) {
	if u.Disabled {
		return "", nil, Errorf(KindForbidden, "user", "user %q is disabled", u.Name)
	}
	if !StaffRole(u.Role) {
		return "", nil, Invalid("role", "user %q has no staff role", u.Name)
	}
	if name == "" {
		name = u.Name
	}
	secret = TokenPrefix + rand.Text() + rand.Text()
	tok = &Token{Name: name, Role: u.Role, User: u.Name, Hash: HashToken(secret), CreatedAt: now}
	if err := tok.Validate(); err != nil {
		return "", nil, err
	}
	return secret, tok, nil
}
