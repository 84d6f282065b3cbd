package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yihao-city/yihao/ticketing"
)

// userTests returns the conformance tests of the staff users and of the API
// tokens that act for them.
func userTests() []storeTest {
	return []storeTest{
		{"UserRoundTrip", testUserRoundTrip},
		{"UserUpsertKeepsCreatedAt", testUserUpsert},
		{"UsersByName", testUsersByName},
		{"UserNotFound", testUserNotFound},
		{"UserInvalid", testUserInvalid},
		{"TokenForUser", testTokenForUser},
		{"UserTokensRevoked", testUserTokensRevoked},
		{"UserSessionEpoch", testUserSessionEpoch},
	}
}

// fakePasswordHash is a well-formed argon2id PHC string, distinct per seed,
// made without paying for argon2: the stores only keep it.
func fakePasswordHash(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	enc := base64.RawStdEncoding
	return "$argon2id$v=19$m=65536,t=1,p=2$" + enc.EncodeToString(sum[:16]) + "$" + enc.EncodeToString(sum[:])
}

func user(name string, role ticketing.Role, dept string) *ticketing.User {
	return &ticketing.User{Name: name, DisplayName: "员工 " + name, Role: role, Department: dept,
		PasswordHash: fakePasswordHash(name), CreatedAt: base, UpdatedAt: base}
}

func putUser(t *testing.T, s ticketing.Store, u *ticketing.User) {
	t.Helper()
	if err := s.PutUser(context.Background(), u); err != nil {
		t.Fatalf("PutUser(%s): %v", u.Name, err)
	}
}

func testUserRoundTrip(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	disabled := user("old.hand", ticketing.RoleDispatcher, "")
	disabled.Disabled = true
	for _, want := range []*ticketing.User{
		user("wang.fang", ticketing.RoleAgent, ""),
		user("swj-li", ticketing.RoleLiaison, "swj"),
		user("admin", ticketing.RoleAdmin, ""),
		disabled,
		{Name: "adm.disp", DisplayName: "安定门街道中心", Role: ticketing.RoleDispatcher, Area: "110101001",
			PasswordHash: fakePasswordHash("adm"), CreatedAt: base, UpdatedAt: base},
		{Name: "grid.li", Role: ticketing.RoleSupervisor, Area: "110101001001", PasswordHash: fakePasswordHash("li"), UpdatedAt: base},
		{Name: "grid.wu", Role: ticketing.RoleSupervisor, Area: "110101001001", Cells: []string{"110101001001051", "110101001001052"},
			PasswordHash: fakePasswordHash("wu"), UpdatedAt: base},
		{Name: "z_9", Role: ticketing.RoleAgent, PasswordHash: fakePasswordHash("z"), UpdatedAt: base.Add(time.Hour)},
	} {
		putUser(t, s, want)
		got, err := s.UserByName(ctx, want.Name)
		if err != nil {
			t.Fatalf("UserByName(%s): %v", want.Name, err)
		}
		if want.CreatedAt.IsZero() {
			// A zero creation time is the update time.
			want.CreatedAt = want.UpdatedAt
		}
		if d := cmp.Diff(want, got, agentOpts); d != "" {
			t.Errorf("user %s (-want +got):\n%s", want.Name, d)
		}
	}
}

func testUserUpsert(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	putUser(t, s, user("wang.fang", ticketing.RoleAgent, ""))
	later := base.Add(24 * time.Hour)
	next := &ticketing.User{Name: "wang.fang", DisplayName: "王芳", Role: ticketing.RoleLiaison, Department: "cgw",
		PasswordHash: fakePasswordHash("new"), Disabled: true, CreatedAt: later, UpdatedAt: later}
	putUser(t, s, next)
	if !next.CreatedAt.Equal(base) {
		t.Errorf("PutUser set CreatedAt to %v, want the stored %v", next.CreatedAt, base)
	}
	want := &ticketing.User{Name: "wang.fang", DisplayName: "王芳", Role: ticketing.RoleLiaison, Department: "cgw",
		PasswordHash: fakePasswordHash("new"), Disabled: true, CreatedAt: base, UpdatedAt: later}
	got, err := s.UserByName(ctx, "wang.fang")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, agentOpts); d != "" {
		t.Errorf("after the update (-want +got):\n%s", d)
	}
	// Enabled again, back to an agent without a department.
	next.Role, next.Department, next.Disabled, next.UpdatedAt = ticketing.RoleAgent, "", false, later.Add(time.Minute)
	putUser(t, s, next)
	if got, err := s.UserByName(ctx, "wang.fang"); err != nil || got.Disabled || got.Department != "" || got.Role != ticketing.RoleAgent {
		t.Errorf("after enabling: %+v, %v", got, err)
	}
	all, err := s.Users(ctx)
	if err != nil || len(all) != 1 {
		t.Errorf("Users after puts of one name = %d users, %v; want 1", len(all), err)
	}
}

func testUsersByName(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	all, err := s.Users(ctx)
	if err != nil || len(all) != 0 {
		t.Fatalf("Users of an empty store = %v, %v", all, err)
	}
	for _, name := range []string{"zhao", "li_si", "li.si", "01ops", "li-si", "a.b"} {
		putUser(t, s, user(name, ticketing.RoleAgent, ""))
	}
	all, err = s.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range all {
		names = append(names, u.Name)
		if u.PasswordHash != fakePasswordHash(u.Name) || u.DisplayName != "员工 "+u.Name || u.Role != ticketing.RoleAgent {
			t.Errorf("listed user %+v lost fields", u)
		}
	}
	// Byte order: '-' < '.' < '0' < '_' < 'a'.
	if want := []string{"01ops", "a.b", "li-si", "li.si", "li_si", "zhao"}; !slices.Equal(names, want) {
		t.Errorf("Users = %v, want %v (by name)", names, want)
	}
}

func testUserNotFound(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	if _, err := s.UserByName(ctx, "nobody"); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("UserByName(unknown) = %v, want ErrNotFound", err)
	}
	putUser(t, s, user("wang.fang", ticketing.RoleAgent, ""))
	// Names are exact: no case folding, no trimming.
	for _, name := range []string{"Wang.Fang", "wang.fang ", "wang"} {
		if _, err := s.UserByName(ctx, name); !errors.Is(err, ticketing.ErrNotFound) {
			t.Errorf("UserByName(%q) = %v, want ErrNotFound", name, err)
		}
	}
}

func testUserInvalid(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	for name, u := range map[string]*ticketing.User{
		"upper-case name":      user("Wang", ticketing.RoleAgent, ""),
		"liaison without dept": user("li", ticketing.RoleLiaison, ""),
		"integration role":     user("pbx", ticketing.RoleCTI, ""),
		"plain password":       {Name: "wang", Role: ticketing.RoleAgent, PasswordHash: "hunter2hunter2", UpdatedAt: base},
		"no time":              {Name: "wang", Role: ticketing.RoleAgent, PasswordHash: fakePasswordHash("w")},
		"an agent's cells": {Name: "wang", Role: ticketing.RoleAgent, Cells: []string{"110101001001051"},
			PasswordHash: fakePasswordHash("w"), UpdatedAt: base},
	} {
		if err := s.PutUser(ctx, u); !errors.Is(err, ticketing.ErrInvalid) {
			t.Errorf("%s: PutUser = %v, want ErrInvalid", name, err)
		}
	}
	if all, err := s.Users(ctx); err != nil || len(all) != 0 {
		t.Errorf("invalid users were stored: %v, %v", all, err)
	}
}

func testTokenForUser(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	u := user("swj-li", ticketing.RoleLiaison, "swj")
	putUser(t, s, u)
	secret, tok, err := ticketing.NewUserToken(u, "", base)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := s.TokenByHash(ctx, ticketing.HashToken(secret))
	if err != nil {
		t.Fatal(err)
	}
	want := &ticketing.Token{ID: tok.ID, Name: "swj-li", Role: ticketing.RoleLiaison, User: "swj-li",
		Hash: ticketing.HashToken(secret), CreatedAt: base}
	if d := cmp.Diff(want, got, agentOpts); d != "" {
		t.Errorf("user's token (-want +got):\n%s", d)
	}

	// An integration's token acts for nobody.
	secret, tok, err = ticketing.NewToken(ticketing.RoleOpen311, "district app", base)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TokenByHash(ctx, ticketing.HashToken(secret)); err != nil || got.User != "" || got.Role != ticketing.RoleOpen311 {
		t.Errorf("integration token = %+v, %v", got, err)
	}

	// A token for a user the store does not have is refused.
	_, tok, err = ticketing.NewUserToken(user("ghost", ticketing.RoleAdmin, ""), "", base)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, tok); !errors.Is(err, ticketing.ErrConflict) {
		t.Errorf("CreateToken for an unknown user = %v, want ErrConflict", err)
	}
}

// Disabling a user or changing its role deletes the tokens acting for it
// with rights it no longer has; other tokens stay.
func testUserTokensRevoked(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	u := user("wang.fang", ticketing.RoleAgent, "")
	other := user("li.si", ticketing.RoleAgent, "")
	putUser(t, s, u)
	putUser(t, s, other)
	newToken := func(u *ticketing.User) string {
		t.Helper()
		secret, tok, err := ticketing.NewUserToken(u, "", base)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	alive := func(secret string) bool {
		t.Helper()
		_, err := s.TokenByHash(ctx, ticketing.HashToken(secret))
		if err != nil && !errors.Is(err, ticketing.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	agent1, agent2, others := newToken(u), newToken(u), newToken(other)
	integration, tok, err := ticketing.NewToken(ticketing.RoleCTI, "pbx", base)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}

	// Same role, still enabled (a new password or display name): kept.
	u.DisplayName, u.UpdatedAt = "王芳", base.Add(time.Minute)
	putUser(t, s, u)
	if !alive(agent1) || !alive(agent2) {
		t.Fatal("an update keeping the role revoked the user's tokens")
	}
	// Another role: the agent tokens go.
	u.Role, u.UpdatedAt = ticketing.RoleDispatcher, base.Add(2*time.Minute)
	putUser(t, s, u)
	if alive(agent1) || alive(agent2) {
		t.Error("tokens of the old role survived a role change")
	}
	dispatcher := newToken(u)
	// Disabled: every token of the user goes.
	u.Disabled, u.UpdatedAt = true, base.Add(3*time.Minute)
	putUser(t, s, u)
	if alive(dispatcher) {
		t.Error("a disabled user's token survived")
	}
	if !alive(others) || !alive(integration) {
		t.Error("revoking one user's tokens deleted other tokens")
	}
}

// EndUserSessions moves only that user's epoch on, by one each time, and
// PutUser (a new password, a role change, disabling) never moves it back.
func testUserSessionEpoch(t *testing.T, s ticketing.Store) {
	ctx := context.Background()
	putUser(t, s, user("wang.fang", ticketing.RoleAgent, ""))
	putUser(t, s, user("li.qiang", ticketing.RoleAgent, ""))
	epoch := func(name string) int64 {
		t.Helper()
		u, err := s.UserByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return u.SessionEpoch
	}
	if e := epoch("wang.fang"); e != 0 {
		t.Fatalf("a new user's epoch is %d, want 0", e)
	}
	for range 2 {
		if err := s.EndUserSessions(ctx, "wang.fang"); err != nil {
			t.Fatal(err)
		}
	}
	if e, o := epoch("wang.fang"), epoch("li.qiang"); e != 2 || o != 0 {
		t.Fatalf("epochs after two sign-outs of one user: %d and %d, want 2 and 0", e, o)
	}
	u := user("wang.fang", ticketing.RoleDispatcher, "")
	u.PasswordHash, u.SessionEpoch = fakePasswordHash("new"), 0
	putUser(t, s, u)
	if e := epoch("wang.fang"); e != 2 {
		t.Fatalf("PutUser set the epoch to %d, want it kept at 2", e)
	}
	users, err := s.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Name == "wang.fang" && u.SessionEpoch != 2 {
			t.Errorf("Users gives epoch %d, want 2", u.SessionEpoch)
		}
	}
	if err := s.EndUserSessions(ctx, "nobody"); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("EndUserSessions of an unknown user: %v, want ErrNotFound", err)
	}
}
