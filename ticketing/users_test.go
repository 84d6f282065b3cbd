package ticketing_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/yihao-city/yihao/ticketing"
)

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=1,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashPassword(t *testing.T) {
	const pw = "correct horse 电池"
	h, err := ticketing.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !phc.MatchString(h) {
		t.Fatalf("HashPassword = %q, want an argon2id PHC string", h)
	}
	if strings.Contains(h, pw) {
		t.Fatal("the hash contains the password")
	}
	if !ticketing.CheckPassword(h, pw) {
		t.Error("CheckPassword(hash, password) = false")
	}
	for _, wrong := range []string{"", "correct horse 电", "Correct horse 电池", pw + " ", pw + "\x00"} {
		if ticketing.CheckPassword(h, wrong) {
			t.Errorf("CheckPassword(hash, %q) = true", wrong)
		}
	}
	h2, err := ticketing.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if h2 == h {
		t.Error("two hashes of one password are equal: no fresh salt")
	}

	// Tampering with the salt or the key breaks the match.
	f := strings.Split(h, "$")
	for i := 4; i <= 5; i++ {
		g := slicesClone(f)
		g[i] = flipFirst(g[i])
		if ticketing.CheckPassword(strings.Join(g, "$"), pw) {
			t.Errorf("CheckPassword accepts a hash with field %d changed", i)
		}
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// A hash made with other (sane) parameters still checks: the parameters
// are read from the string, so the defaults can change later.
func TestCheckPasswordOtherParameters(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("another password"), salt, 2, 1024, 1, 16)
	enc := base64.RawStdEncoding
	h := "$argon2id$v=19$m=1024,t=2,p=1$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key)
	if !ticketing.CheckPassword(h, "another password") {
		t.Error("CheckPassword(m=1024,t=2,p=1 hash) = false")
	}
	if ticketing.CheckPassword(h, "another passwore") {
		t.Error("CheckPassword accepts a wrong password")
	}
}

func TestPasswordPolicy(t *testing.T) {
	for _, pw := range []string{"", "short", "123456789", "一二三四五六七八九", strings.Repeat("x", ticketing.MaxPasswordBytes+1)} {
		_, err := ticketing.HashPassword(pw)
		if !errors.Is(err, ticketing.ErrInvalid) {
			t.Errorf("HashPassword(%d bytes) = %v, want ErrInvalid", len(pw), err)
		} else if pw != "" && strings.Contains(err.Error(), pw) {
			t.Errorf("the error %q shows the password", err)
		}
	}
	for _, pw := range []string{"1234567890", "一二三四五六七八九十"} {
		if err := ticketing.CheckPasswordPolicy(pw); err != nil {
			t.Errorf("CheckPasswordPolicy(%q) = %v", pw, err)
		}
	}
	long := strings.Repeat("x", ticketing.MaxPasswordBytes+1)
	if ticketing.CheckPassword("$argon2id$v=19$m=1024,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg", long) {
		t.Error("CheckPassword accepts an over-long password")
	}
}

// Malformed and hostile hashes are refused before argon2 runs: no check
// here may allocate anywhere near the memory its parameters ask for.
func TestCheckPasswordMalformed(t *testing.T) {
	const (
		salt = "MDEyMzQ1Njc4OWFiY2RlZg"                      // 16 bytes
		key  = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY" // 32 bytes
	)
	ok := "$argon2id$v=19$m=65536,t=1,p=2$" + salt + "$" + key
	bad := map[string]string{
		"empty":               "",
		"plain text":          "hunter2hunter2",
		"argon2i":             "$argon2i$v=19$m=65536,t=1,p=2$" + salt + "$" + key,
		"argon2d":             "$argon2d$v=19$m=65536,t=1,p=2$" + salt + "$" + key,
		"bcrypt":              "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"version 16":          "$argon2id$v=16$m=65536,t=1,p=2$" + salt + "$" + key,
		"no version":          "$argon2id$m=65536,t=1,p=2$" + salt + "$" + key,
		"params reordered":    "$argon2id$v=19$t=1,m=65536,p=2$" + salt + "$" + key,
		"param missing":       "$argon2id$v=19$m=65536,t=1$" + salt + "$" + key,
		"extra param":         "$argon2id$v=19$m=65536,t=1,p=2,k=1$" + salt + "$" + key,
		"leading zero":        "$argon2id$v=19$m=065536,t=1,p=2$" + salt + "$" + key,
		"plus sign":           "$argon2id$v=19$m=+65536,t=1,p=2$" + salt + "$" + key,
		"negative":            "$argon2id$v=19$m=65536,t=-1,p=2$" + salt + "$" + key,
		"space":               "$argon2id$v=19$m=65536, t=1,p=2$" + salt + "$" + key,
		"memory 4 GiB":        "$argon2id$v=19$m=4194304,t=1,p=2$" + salt + "$" + key,
		"memory max uint32":   "$argon2id$v=19$m=4294967295,t=1,p=2$" + salt + "$" + key,
		"memory over uint32":  "$argon2id$v=19$m=4294967296,t=1,p=2$" + salt + "$" + key,
		"memory just over":    "$argon2id$v=19$m=262145,t=1,p=1$" + salt + "$" + key,
		"memory under 8p":     "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key,
		"time zero":           "$argon2id$v=19$m=65536,t=0,p=2$" + salt + "$" + key,
		"time huge":           "$argon2id$v=19$m=65536,t=100000,p=2$" + salt + "$" + key,
		"threads zero":        "$argon2id$v=19$m=65536,t=1,p=0$" + salt + "$" + key,
		"threads 255":         "$argon2id$v=19$m=65536,t=1,p=255$" + salt + "$" + key,
		"threads 256":         "$argon2id$v=19$m=65536,t=1,p=256$" + salt + "$" + key,
		"salt padded":         "$argon2id$v=19$m=65536,t=1,p=2$" + salt + "==$" + key,
		"salt not base64":     "$argon2id$v=19$m=65536,t=1,p=2$" + "!!!!!!!!!!!!!!!!!!!!!!" + "$" + key,
		"salt url base64":     "$argon2id$v=19$m=65536,t=1,p=2$" + "MDEyMzQ1Njc4OWFi-_-_-_" + "$" + key,
		"salt too short":      "$argon2id$v=19$m=65536,t=1,p=2$" + "MDEy" + "$" + key,
		"salt empty":          "$argon2id$v=19$m=65536,t=1,p=2$$" + key,
		"key too short":       "$argon2id$v=19$m=65536,t=1,p=2$" + salt + "$MDEyMzQ1Njc",
		"key too long":        "$argon2id$v=19$m=65536,t=1,p=2$" + salt + "$" + strings.Repeat("A", 100),
		"key empty":           "$argon2id$v=19$m=65536,t=1,p=2$" + salt + "$",
		"trailing field":      ok + "$",
		"no leading dollar":   ok[1:],
		"leading space":       " " + ok,
		"trailing newline":    ok + "\n",
		"too long":            ok + strings.Repeat("A", 1<<20),
		"only dollars":        "$$$$$",
		"params with keyid":   "$argon2id$v=19$m=65536,t=1,p=2,keyid=AAAA$" + salt + "$" + key,
		"dollar-split salt":   "$argon2id$v=19$m=65536,t=1,p=2$" + salt + "$" + salt + "$" + key,
		"unicode digits":      "$argon2id$v=19$m=６５５３６,t=1,p=2$" + salt + "$" + key,
		"max threads no mem":  "$argon2id$v=19$m=8,t=1,p=16$" + salt + "$" + key,
		"version 19 zero pad": "$argon2id$v=019$m=65536,t=1,p=2$" + salt + "$" + key,
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for name, h := range bad {
		if ticketing.CheckPassword(h, "0123456789") {
			t.Errorf("%s: CheckPassword = true", name)
		}
		u := &ticketing.User{Name: "wang", Role: ticketing.RoleAgent, PasswordHash: h, UpdatedAt: time.Now()}
		if err := u.Validate(); !errors.Is(err, ticketing.ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
	runtime.ReadMemStats(&after)
	// The "too long" case itself is 1 MiB; argon2 at the bounds is 256 MiB.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Errorf("checking malformed hashes allocated %d MiB", grew>>20)
	}
	// The well-formed one the cases derive from is accepted by Validate
	// (and rejects this password, having run argon2).
	u := &ticketing.User{Name: "wang", Role: ticketing.RoleAgent, PasswordHash: ok, UpdatedAt: time.Now()}
	if err := u.Validate(); err != nil {
		t.Errorf("Validate(well-formed hash) = %v", err)
	}
	if ticketing.CheckPassword(ok, "0123456789") {
		t.Error("CheckPassword(made-up key) = true")
	}
}

func FuzzCheckPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg", "0123456789")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=2$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZg", "x")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		// Keep fuzzing cheap: only small-memory hashes reach argon2.
		if strings.Contains(hash, "m=") && !regexp.MustCompile(`m=\d{1,4},`).MatchString(hash) {
			return
		}
		ticketing.CheckPassword(hash, pw) // must not panic
	})
}

func TestUserValidate(t *testing.T) {
	hash := "$argon2id$v=19$m=65536,t=1,p=2$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	valid := func() ticketing.User {
		return ticketing.User{Name: "wang.fang", DisplayName: "王芳", Role: ticketing.RoleAgent, PasswordHash: hash, UpdatedAt: now}
	}
	tests := []struct {
		name  string
		edit  func(*ticketing.User)
		field string // "" = valid
	}{
		{"agent", func(*ticketing.User) {}, ""},
		{"admin", func(u *ticketing.User) { u.Role = ticketing.RoleAdmin }, ""},
		{"dispatcher", func(u *ticketing.User) { u.Role = ticketing.RoleDispatcher }, ""},
		{"liaison", func(u *ticketing.User) { u.Role, u.Department = ticketing.RoleLiaison, "swj" }, ""},
		{"disabled", func(u *ticketing.User) { u.Disabled = true }, ""},
		{"no display name", func(u *ticketing.User) { u.DisplayName = "" }, ""},
		{"shortest name", func(u *ticketing.User) { u.Name = "ab" }, ""},
		{"longest name", func(u *ticketing.User) { u.Name = strings.Repeat("a", 32) }, ""},
		{"name punctuation", func(u *ticketing.User) { u.Name = "a.b_c-9" }, ""},
		{"empty name", func(u *ticketing.User) { u.Name = "" }, "name"},
		{"one-letter name", func(u *ticketing.User) { u.Name = "a" }, "name"},
		{"long name", func(u *ticketing.User) { u.Name = strings.Repeat("a", 33) }, "name"},
		{"upper case", func(u *ticketing.User) { u.Name = "Wang" }, "name"},
		{"space", func(u *ticketing.User) { u.Name = "wang fang" }, "name"},
		{"at sign", func(u *ticketing.User) { u.Name = "wang@city" }, "name"},
		{"chinese name", func(u *ticketing.User) { u.Name = "王芳" }, "name"},
		{"display control", func(u *ticketing.User) { u.DisplayName = "王\n芳" }, "displayName"},
		{"display too long", func(u *ticketing.User) { u.DisplayName = strings.Repeat("王", 65) }, "displayName"},
		{"display bad utf8", func(u *ticketing.User) { u.DisplayName = "\xff" }, "displayName"},
		{"no role", func(u *ticketing.User) { u.Role = "" }, "role"},
		{"open311 role", func(u *ticketing.User) { u.Role = ticketing.RoleOpen311 }, "role"},
		{"cti role", func(u *ticketing.User) { u.Role = ticketing.RoleCTI }, "role"},
		{"unknown role", func(u *ticketing.User) { u.Role = "mayor" }, "role"},
		{"liaison without department", func(u *ticketing.User) { u.Role = ticketing.RoleLiaison }, "department"},
		{"agent with department", func(u *ticketing.User) { u.Department = "swj" }, "department"},
		{"department with space", func(u *ticketing.User) { u.Role, u.Department = ticketing.RoleLiaison, "s wj" }, "department"},
		{"department too long", func(u *ticketing.User) { u.Role, u.Department = ticketing.RoleLiaison, strings.Repeat("d", 65) }, "department"},
		{"no hash", func(u *ticketing.User) { u.PasswordHash = "" }, "passwordHash"},
		{"password, not hash", func(u *ticketing.User) { u.PasswordHash = "0123456789" }, "passwordHash"},
		{"no time", func(u *ticketing.User) { u.UpdatedAt = time.Time{} }, "updatedAt"},
		{"supervisor's cells", func(u *ticketing.User) {
			u.Role, u.Area, u.Cells = ticketing.RoleSupervisor, "110101001001", []string{"110101001001051", "110101001001052"}
		}, ""},
		{"dispatcher's cells", func(u *ticketing.User) { u.Role, u.Cells = ticketing.RoleDispatcher, []string{"110101001001051"} }, "cells"},
		{"a cell twice", func(u *ticketing.User) { u.Role, u.Cells = ticketing.RoleSupervisor, []string{"c1", "c2", "c1"} }, "cells"},
		{"empty cell", func(u *ticketing.User) { u.Role, u.Cells = ticketing.RoleSupervisor, []string{""} }, "cells"},
		{"comma in a cell", func(u *ticketing.User) { u.Role, u.Cells = ticketing.RoleSupervisor, []string{"c1,c2"} }, "cells"},
		{"too many cells", func(u *ticketing.User) {
			u.Role = ticketing.RoleSupervisor
			for i := range ticketing.MaxUserCells + 1 {
				u.Cells = append(u.Cells, fmt.Sprint("c", i))
			}
		}, "cells"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := valid()
			tc.edit(&u)
			err := u.Validate()
			if tc.field == "" {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			var e *ticketing.Error
			if !errors.As(err, &e) || e.Kind != ticketing.KindInvalid || e.Field != tc.field {
				t.Errorf("Validate = %v, want invalid %s", err, tc.field)
			}
		})
	}
}

func TestNewUserToken(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	u := &ticketing.User{Name: "swj-li", Role: ticketing.RoleLiaison, Department: "swj"}
	secret, tok, err := ticketing.NewUserToken(u, "", now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, ticketing.TokenPrefix) || tok.Hash != ticketing.HashToken(secret) ||
		tok.Role != ticketing.RoleLiaison || tok.User != "swj-li" || tok.Name != "swj-li" || !tok.CreatedAt.Equal(now) {
		t.Errorf("token = %+v", tok)
	}
	if _, tok, err := ticketing.NewUserToken(u, "liaison app", now); err != nil || tok.Name != "liaison app" || tok.User != "swj-li" {
		t.Errorf("named token = %+v, %v", tok, err)
	}
	u.Disabled = true
	if _, _, err := ticketing.NewUserToken(u, "", now); ticketing.KindOf(err) != ticketing.KindForbidden {
		t.Errorf("token for a disabled user: %v, want forbidden", err)
	}
	if _, _, err := ticketing.NewUserToken(&ticketing.User{Name: "pbx", Role: ticketing.RoleCTI}, "", now); !errors.Is(err, ticketing.ErrInvalid) {
		t.Errorf("token for a user with an integration role: %v, want invalid", err)
	}
}
