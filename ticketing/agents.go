package ticketing

import (
	"crypto/md5" //nolint:gosec // SIP digest authentication (RFC 2617, RFC 3261) is defined on MD5
	"encoding/hex"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Agent is a hotline agent's SIP account (坐席): the registrar checks
// digests against HA1, so the password itself is never stored.
type Agent struct {
	Ext    string   // extension, 2–16 digits; the SIP user name
	Name   string   // display name, at most 64 printable chars
	Realm  string   // digest realm HA1 was computed for
	HA1    string   // hex MD5(ext:realm:password); never the password
	Skills []string // lines/skills the agent takes (e.g. "12345","12319"); empty = all
	// CreatedAt is kept from the first PutAgent; zero there means UpdatedAt.
	CreatedAt, UpdatedAt time.Time
	// SessionEpoch is moved on by EndAgentSessions (signing out of the
	// agent page): a session holds only while it carries the agent's
	// epoch. PutAgent keeps the stored one.
	SessionEpoch int64
}

// Limits on an agent's fields.
const (
	MinExtLen          = 2
	MaxExtLen          = 16
	MaxAgentNameRunes  = 64
	MaxRealmLen        = 128
	MaxAgentSkills     = 32
	MaxAgentSkillRunes = 32
)

// HA1 is the digest secret of RFC 2617: hex MD5 of user:realm:password.
// Changing the realm invalidates it, so an agent records the realm it was
// computed for.
func HA1(user, realm, password string) string {
	sum := md5.Sum([]byte(user + ":" + realm + ":" + password)) //nolint:gosec // see the import
	return hex.EncodeToString(sum[:])
}

// Validate checks an agent before it is stored. The error names the first
// field at fault.
func (a *Agent) Validate() error {
	if n := len(a.Ext); n < MinExtLen || n > MaxExtLen || strings.Trim(a.Ext, "0123456789") != "" {
		return Invalid("ext", "must be %d to %d digits", MinExtLen, MaxExtLen)
	}
	if !utf8.ValidString(a.Name) || utf8.RuneCountInString(a.Name) > MaxAgentNameRunes || !printable(a.Name) {
		return Invalid("name", "must be at most %d printable characters", MaxAgentNameRunes)
	}
	// The realm is sent back in a quoted string of WWW-Authenticate.
	if a.Realm == "" || len(a.Realm) > MaxRealmLen || !utf8.ValidString(a.Realm) || !printable(a.Realm) ||
		strings.ContainsAny(a.Realm, `"\`) {
		return Invalid("realm", "must be 1 to %d printable characters without quotes or backslashes", MaxRealmLen)
	}
	if len(a.HA1) != 32 || strings.Trim(a.HA1, "0123456789abcdef") != "" {
		return Invalid("ha1", "must be 32 lowercase hex digits (MD5 of ext:realm:password)")
	}
	if len(a.Skills) > MaxAgentSkills {
		return Invalid("skills", "at most %d", MaxAgentSkills)
	}
	seen := make(map[string]bool, len(a.Skills))
	for _, s := range a.Skills {
		if n := utf8.RuneCountInString(s); n == 0 || n > MaxAgentSkillRunes || !utf8.ValidString(s) || !printable(s) ||
			strings.ContainsFunc(s, unicode.IsSpace) {
			return Invalid("skills", "%q: each must be 1 to %d printable characters without spaces", s, MaxAgentSkillRunes)
		}
		if seen[s] {
			return Invalid("skills", "%q is listed twice", s)
		}
		seen[s] = true
	}
	if a.UpdatedAt.IsZero() {
		return Invalid("updatedAt", "missing time")
	}
	return nil
}

// commonAgentPasswords are passwords tried first by anyone guessing SIP
// accounts (and ones people pick for a softphone), at least
// MinPasswordRunes long; compared in lower case.
var commonAgentPasswords = []string{
	"1234567890", "0123456789", "9876543210", "1111111111", "0000000000",
	"password12", "password123", "password1234", "passw0rd12", "p@ssw0rd12",
	"qwertyuiop", "qwerty1234", "qwerty12345", "1q2w3e4r5t", "1qaz2wsx3edc",
	"asdfghjkl1", "abcd123456", "abc1234567", "a123456789", "123456789a",
	"admin12345", "admin123456", "administrator", "iloveyou12", "letmein123",
	"changeme12", "welcome123", "sipphone12", "yihao12345", "12345yihao",
}

// CheckAgentPassword is the minimum strength of an agent's SIP password:
// the registrar's digest can be tried by anyone who reaches the SIP port,
// so it refuses a password shorter than MinPasswordRunes characters or
// longer than MaxPasswordBytes bytes, one made of digits only (a phone
// keypad's first guesses), one containing the extension, one repeating a
// single character, and the commonest. The error names the problem and
// never contains the password.
func CheckAgentPassword(ext, pw string) error {
	if err := CheckPasswordPolicy(pw); err != nil {
		return err
	}
	if strings.Trim(pw, "0123456789") == "" {
		return Invalid("password", "must not be digits only")
	}
	if ext != "" && strings.Contains(pw, ext) {
		return Invalid("password", "must not contain the extension")
	}
	if r, _ := utf8.DecodeRuneInString(pw); strings.Trim(pw, string(r)) == "" {
		return Invalid("password", "must not repeat one character")
	}
	lower := strings.ToLower(pw)
	for _, c := range commonAgentPasswords {
		if lower == c {
			return Invalid("password", "is one of the commonest passwords")
		}
	}
	return nil
}
