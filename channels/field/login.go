package field

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/ticketing"
)

// Accounts finds supervisors and keeps the tokens their phones sign in
// with (ticketing.Store).
type Accounts interface {
	ticketing.TokenUsers
	CreateToken(ctx context.Context, tok *ticketing.Token) error
	DeleteUserTokens(ctx context.Context, user, prefix string, keep int64) (int64, error)
}

// appTokenPrefix names the tokens the phone app's sign-in makes.
const appTokenPrefix = "field-app "

// Limiter says whether one more sign-in attempt for key is allowed now
// (limit.Local, or the Redis limiter); when not, how long to wait.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// maxPasswordChecks bounds the argon2id checks running at once: each
// holds 64 MiB.
const maxPasswordChecks = 2

// postLogin is POST /api/v1/field/login: a supervisor's name and password
// ({"name","password"}) for a token of the phone's own, which the app
// keeps and sends as its bearer token, so it works on when the signal
// comes and goes. Only supervisors sign in here; attempts are throttled
// per address and per name; a wrong name costs what a wrong password does.
func (s *Server) postLogin(c *gin.Context) {
	var in struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := s.decodeJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	name := strings.ToLower(strings.TrimSpace(in.Name))
	if wait, ok := s.loginAllowed(ctx, c.ClientIP(), name); !ok {
		c.Header("Retry-After", strconv.Itoa(max(1, int(wait.Round(time.Second)/time.Second))))
		s.fail(c, ticketing.Errorf(ticketing.KindRateLimited, "", "too many sign-in attempts; try again later"))
		return
	}
	u, err := s.Tokens.UserByName(ctx, name)
	if err != nil && !errors.Is(err, ticketing.ErrNotFound) {
		s.fail(c, err)
		return
	}
	hash := s.dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	select {
	case s.checks <- struct{}{}:
	case <-ctx.Done():
		s.fail(c, ctx.Err())
		return
	}
	ok := ticketing.CheckPassword(hash, in.Password)
	<-s.checks
	if !ok || u == nil || u.Disabled || u.Role != ticketing.RoleSupervisor {
		s.Log.Warn("field sign-in refused", "source", c.ClientIP())
		s.fail(c, ticketing.Errorf(ticketing.KindUnauthorized, "password", "wrong name or password, or not a grid supervisor"))
		return
	}
	secret, tok, err := ticketing.NewUserToken(u, appTokenPrefix+time.Now().Format("2006-01-02 15:04:05"), time.Now())
	if err == nil {
		err = s.Tokens.CreateToken(ctx, tok)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	// One phone per supervisor: the new sign-in ends the earlier ones, so
	// a lost or handed-on phone stops working when its owner signs in
	// again, and tokens do not pile up. The sign-in stands if this fails.
	if _, err := s.Tokens.DeleteUserTokens(ctx, u.Name, appTokenPrefix, tok.ID); err != nil {
		s.Log.Warn("field sign-in: earlier tokens not removed", "user", u.Name, "err", err)
	}
	s.Log.Info("field sign-in", "user", u.Name)
	c.JSON(http.StatusOK, gin.H{"token": secret, "name": u.Name, "display_name": u.DisplayName, "area": u.Area})
}

// loginAllowed asks the limiter for the address and the name
// (ticketing.AllowSignIn); a limiter that fails is logged and lets the
// attempt through (the semaphore still bounds them).
func (s *Server) loginAllowed(ctx context.Context, ip, name string) (time.Duration, bool) {
	wait, ok, err := ticketing.AllowSignIn(ctx, s.Limiter, "field-login", ip, name)
	if err != nil {
		s.Log.Warn("field sign-in: limiter unavailable", "err", err)
	}
	return wait, ok
}

func dummyHash() (string, error) { return ticketing.HashPassword(rand.Text()) }
