package field

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/gin-gonic/gin"
)

// The supervisor's phone app: one server-rendered page, a little
// hand-written JS that keeps reports taken without a signal and sends
// each once when it returns, a manifest so it installs to the home
// screen, and a service worker so it opens with no signal at all.
//
//go:embed app
var appFS embed.FS

// registerApp mounts the app: /field/ and its files. The service worker
// lives under /field/ so its scope is the app.
func (s *Server) registerApp(r gin.IRouter) {
	static, _ := fs.Sub(appFS, "app/static")
	g := r.Group("/field", appHeaders)
	g.GET("", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/field/") })
	g.GET("/", s.appPage)
	g.StaticFS("/static", http.FS(static))
	g.GET("/sw.js", func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache") // a new version reaches the phones
		c.FileFromFS("sw.js", http.FS(static))
	})
	g.GET("/manifest.webmanifest", func(c *gin.Context) {
		b, _ := fs.ReadFile(static, "manifest.webmanifest")
		c.Data(http.StatusOK, "application/manifest+json", b)
	})
}

// appHeaders keep the app to its own origin: scripts and styles from here,
// photos previewed from the phone's own blobs.
func appHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "+
		"connect-src 'self'; worker-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	c.Next()
}

// typeGroup is one class of the type picker.
type typeGroup struct {
	Name  string
	Types []Type
}

// appPage renders the app with the catalogue's types of the moment.
func (s *Server) appPage(c *gin.Context) {
	var groups []typeGroup
	for _, t := range s.Types.FieldTypes() {
		if n := len(groups); n == 0 || groups[n-1].Name != t.Group {
			groups = append(groups, typeGroup{Name: t.Group})
		}
		groups[len(groups)-1].Types = append(groups[len(groups)-1].Types, t)
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusOK)
	if err := s.page.Execute(c.Writer, groups); err != nil {
		s.Log.Error("field app page", "err", err)
	}
}

// Patterns lists the routes Register adds ("POST /api/v1/field/tasks/:number/:step"),
// so a test of the access policy can insist that each one is covered.
func (s *Server) Patterns() []string {
	e := gin.New()
	s.Register(e)
	var out []string
	for _, r := range e.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}
