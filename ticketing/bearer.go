package ticketing

import (
	"context"
	"errors"
	"strings"
)

// Bearer is who an API token acts for: the user's login name, role,
// department and area for a user's token; the token's own for an integration's.
type Bearer struct {
	Viewer
	// Actor is who audit entries and events name: the user's login name,
	// or "token:<name>" for an integration's token.
	Actor string
	Token *Token
	// User is the account a user's token acts for; nil for an
	// integration's.
	User *User
}

// TokenUsers finds tokens by digest and the users they act for.
type TokenUsers interface {
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	UserByName(ctx context.Context, name string) (*User, error)
}

// Authenticate checks an Authorization header's bearer token the way every
// door does: unknown or malformed is KindUnauthorized; a token acting for
// a user holds only while the user is enabled and has the token's role,
// and takes the user's department and area; a token the policy cannot place (a
// liaison token stored with no department) is KindForbidden.
func Authenticate(ctx context.Context, ts TokenUsers, header string) (*Bearer, error) {
	bad := Errorf(KindUnauthorized, "Authorization", "unknown, revoked or malformed bearer token")
	scheme, secret, _ := strings.Cut(header, " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 256 {
		return nil, bad
	}
	tok, err := ts.TokenByHash(ctx, HashToken(secret))
	if errors.Is(err, ErrNotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	if err := tok.Validate(); err != nil {
		return nil, Errorf(KindForbidden, "Authorization", "this token cannot be used: %v", err)
	}
	if tok.User == "" {
		return &Bearer{Viewer: Viewer{Role: tok.Role, Department: tok.Department}, Actor: "token:" + tok.Name, Token: tok}, nil
	}
	u, err := ts.UserByName(ctx, tok.User)
	if errors.Is(err, ErrNotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled || u.Role != tok.Role || !StaffRole(u.Role) {
		return nil, bad
	}
	return &Bearer{Viewer: Viewer{Role: u.Role, Department: u.Department, Area: u.Area, Cells: u.Cells}, Actor: u.Name, Token: tok, User: u}, nil
}
