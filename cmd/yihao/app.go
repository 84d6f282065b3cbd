package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/channels/field"
	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/open311"
	"github.com/yihao-city/yihao/channels/sms"
	"github.com/yihao-city/yihao/channels/webform"
	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/knowledge"
	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/redis"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/routing/forward"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// serve runs the server until ctx ends: open every part, run, close.
func serve(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	a, err := openApp(ctx, cfg, log)
	defer a.close()
	if err != nil {
		return err
	}
	// Opening hashed passwords (argon2id: 64 MB each, the sign-in pages'
	// decoys and the configured staff's); that memory is garbage now, and
	// given back at once it does not count against the instance's budget.
	debug.FreeOSMemory()
	return a.run(ctx, stdout)
}

// app is the server's parts. openApp opens them in order, each step a
// method below; close closes what was opened, in reverse, even after a
// step failed.
type app struct {
	cfg Config
	log *slog.Logger

	files  routingFiles
	cat    *routing.Catalogue // as loaded at start: the city, its time zone
	router *routing.Live      // the catalogue in force, reloaded
	loc    *time.Location

	store  ticketing.Store
	desc   string // which store, for people
	photos *media.Disk

	rdb     *goredis.Client // nil: everything in this process
	rcmd    goredis.Cmdable // rdb's commands, batched across goroutines (redis.Commands)
	limiter webform.Limiter // nil: no intake limit

	svc     *ticketing.Service
	reg     *prometheus.Registry
	intake  *httpapi.Metrics
	metrics http.Handler

	fwd    *forward.Forwarder // nil: nothing forwarded
	queues []string           // the outbox endpoints /metrics shows (openTexts registers them)
	engine *httpapi.Engine
	o311   *open311.Server
	phone  *phone
	wx     *wechat.Channel // nil: no official account configured
	kb     *knowledge.Index
	// replies reads citizens' answers to texts; nil: no texts.
	replies *sms.Replies

	closers []func()
}

func openApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log}
	for _, step := range []func(context.Context) error{
		a.openRouting, a.openStore, a.openShared, a.openService, a.openKnowledge, a.openForwarding, a.openTexts, a.openDoors,
	} {
		if err := step(ctx); err != nil {
			return a, err
		}
	}
	return a, nil
}

// onClose adds what close must undo.
func (a *app) onClose(f func()) { a.closers = append(a.closers, f) }

// close closes the parts in reverse order of opening.
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// openRouting loads the catalogue, the classifier and the grid, and keeps
// them current (SIGHUP, or the files changing).
func (a *app) openRouting(ctx context.Context) error {
	a.files = routingFilesOf(a.cfg)
	_, cat, err := loadRouting(a.files)
	if err != nil {
		return err
	}
	a.cat = cat
	a.router, err = routing.NewLive(func() (*routing.Router, error) {
		r, _, err := loadRouting(a.files)
		return r, err
	})
	if err != nil {
		return err
	}
	go watchRouting(ctx, a.router, a.files, a.cfg.ReloadInterval, a.log)
	a.loc, _ = cat.Location()
	return nil
}

// openStore opens PostgreSQL when a database URL is set, else the embedded
// SQLite file in the data directory (both migrate on open), and the photo
// store beside it.
func (a *app) openStore(ctx context.Context) error {
	store, closeStore, desc, err := openStore(ctx, a.cfg)
	if err != nil {
		return err
	}
	a.store, a.desc = store, desc
	a.onClose(closeStore)
	a.photos, err = media.NewDisk(filepath.Join(a.cfg.DataDir, "media"))
	return err
}

func openStore(ctx context.Context, cfg Config) (ticketing.Store, func(), string, error) {
	if cfg.DatabaseURL != "" {
		u := cfg.DatabaseURL
		if !strings.Contains(u, "pool_max_conns=") {
			// Commits wait on the WAL flush; more connections than cores lets
			// PostgreSQL group those flushes.
			sep := "?"
			if strings.Contains(u, "?") {
				sep = "&"
			}
			u += fmt.Sprintf("%spool_max_conns=%d", sep, max(16, 8*runtime.NumCPU()))
		}
		s, err := postgres.Open(ctx, u)
		if err != nil {
			return nil, nil, "", err
		}
		return s, s.Close, "postgresql", nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, nil, "", err
	}
	path := filepath.Join(cfg.DataDir, "yihao.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, nil, "", err
	}
	return s, func() { _ = s.Close() }, "sqlite " + path, nil
}

// openShared connects Redis when configured, and sets up the intake
// limit: shared through Redis, or this process's own.
func (a *app) openShared(ctx context.Context) error {
	rate := limit.PerMinute(a.cfg.RateLimit, a.cfg.RateBurst)
	if a.cfg.RedisURL == "" {
		if a.cfg.RateLimit > 0 {
			a.limiter = limit.NewLocal(rate)
		}
		return nil
	}
	rdb, err := redis.Connect(ctx, a.cfg.RedisURL)
	if err != nil {
		return err
	}
	a.onClose(func() { _ = rdb.Close() })
	rcmd, err := redis.Commands(rdb)
	if err != nil {
		return err
	}
	a.rdb, a.rcmd = rdb, rcmd
	if a.cfg.RateLimit > 0 {
		a.limiter = redis.NewLimiter(rcmd, a.cfg.RedisPrefix+"intake:", rate)
	}
	return nil
}

// openService makes the one door every channel submits through, and the
// metrics registry.
func (a *app) openService(context.Context) error {
	d := a.cat.Duplicates
	key, err := a.trackKey()
	if err != nil {
		return err
	}
	a.svc = ticketing.NewService(a.store, a.router, ticketing.WithLocation(a.loc), ticketing.WithLogger(a.log), ticketing.WithTrackKey(key),
		ticketing.WithDefaultCountry(a.cfg.SIP.DefaultCountry), ticketing.WithAdmission(a.cfg.IntakeInFlight, a.cfg.IntakeWait),
		ticketing.WithDuplicates(ticketing.DuplicatePolicy{Radius: d.RadiusM, Window: d.Window, AutoMerge: d.AutoMergeAt}))
	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.intake = httpapi.NewMetrics(a.reg)
	a.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "yihao_intake_shed_total",
		Help: "Reports refused as busy (503, Retry-After: 1): the instance was at intake_max_inflight for intake_max_wait."},
		func() float64 { return float64(a.svc.Shed()) }))
	a.metrics = promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg})
	return nil
}

// knowledgeSync is how often each instance's knowledge index asks the
// store for articles written since: an import or an edit is offered
// within it.
const knowledgeSync = 5 * time.Second

// openKnowledge seeds an empty knowledge base when the configuration asks
// (the demo), and fills this instance's index from the store in the
// background, then keeps it following the store.
func (a *app) openKnowledge(ctx context.Context) error {
	if err := seedKnowledge(ctx, a.cfg, a.store, a.cat, a.router, a.log); err != nil {
		return err
	}
	ix, err := openKnowledge(ctx, a.cfg, a.store, false)
	if err != nil {
		return err
	}
	a.kb = ix
	follow, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); ix.Follow(follow, a.store, knowledgeSync, a.log) }()
	a.onClose(func() { stop(); <-done; _ = ix.Close() })
	return nil
}

// openForwarding registers the forwarders' queues before the first report
// is taken, so no message misses an endpoint.
func (a *app) openForwarding(ctx context.Context) error {
	if len(a.cfg.Forwarding) == 0 {
		return nil
	}
	ds, ok := a.store.(ticketing.DeliveryStore)
	if !ok {
		return fmt.Errorf("forwarding: the %s store keeps no delivery queue", a.desc)
	}
	fwd, err := forward.New(ds, a.svc, a.svc, a.cfg.Forwarding, forward.WithLogger(a.log))
	if err != nil {
		return err
	}
	if err := fwd.Register(ctx); err != nil {
		return err
	}
	a.fwd = fwd
	names := make([]string, len(a.cfg.Forwarding))
	for i, e := range a.cfg.Forwarding {
		names[i] = e.Name
	}
	a.queues = names
	return nil
}

// openDoors puts every HTTP door on one engine — request ids, the access
// log, metrics, recovery and the client's address behind trusted
// proxies, once — and starts the phone and WeChat doors and the desks.
func (a *app) openDoors(ctx context.Context) error {
	var err error
	if a.engine, err = httpapi.New(httpapi.Config{TrustedProxies: a.cfg.TrustedProxies, Log: a.log, Metrics: a.intake}); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	a.probes()
	categories := func() []webform.Category {
		var cats []webform.Category
		for _, c := range a.router.Catalogue().Leaves() {
			cats = append(cats, webform.Category{Code: c.Code, Name: c.Name, Group: c.Group})
		}
		return cats
	}
	web, err := webform.New(webform.Config{City: a.cat.City, Categories: categories, Location: a.loc, Knowledge: a.kb, Misses: a.store},
		a.svc, a.photos, a.store, a.limiter, a.log, a.intake)
	if err != nil {
		return err
	}
	if a.o311, err = open311.New(open311.Config{Base: a.cfg.Open311Base, Jurisdiction: a.cfg.Open311Jurisdiction,
		Services: open311Services(a.cat.Leaves()), Location: a.loc}, a.svc, a.store, a.log, a.intake); err != nil {
		return err
	}
	a.o311.Register(a.engine)
	a.engine.Fallback(a.o311.Base()+"/", a.o311.NotFound)
	// Supervisors' phones send their positions every 30 s: their tokens are
	// taken on trust for a few seconds (a revoked one is refused within it).
	const fieldBearerTTL = 5 * time.Second
	var fieldLogin field.Limiter = limit.NewLocal(limit.PerMinute(10, 5))
	if a.rdb != nil {
		fieldLogin = redis.NewLimiter(a.rcmd, a.cfg.RedisPrefix+"login:", limit.PerMinute(10, 5))
	}
	fieldDoor, err := field.New(field.Config{Location: a.loc, AreaLevel: a.router.AreaLevel, BearerTTL: fieldBearerTTL}, field.Parts{Tickets: a.svc, Cases: a.svc, Queues: a.store, Tokens: a.store, Patrol: a.store,
		Types: fieldTypes{a.router}, Grid: a.router, Photos: a.photos, Log: a.log, Metrics: a.intake, Limiter: fieldLogin})
	if err != nil {
		return err
	}
	fieldDoor.Register(a.engine)
	numbers := make([]string, len(a.cfg.SIP.Lines))
	for i, l := range a.cfg.SIP.Lines {
		numbers[i] = l.Number
	}
	calls := hotline.NewSIPMetrics(a.reg, numbers...)
	if a.phone, err = a.startPhone(ctx, calls); err != nil {
		return err
	}
	a.onClose(a.phone.Close)
	if err := a.startTexts(ctx); err != nil {
		return err
	}
	hotline.New(hotline.Config{Location: a.loc, DefaultCountry: a.cfg.SIP.DefaultCountry, Pops: a.phone.bus, Lines: a.phone.lines,
		Earlier: a.store, Calls: calls}, a.store, a.log, a.intake).Register(a.engine)
	if a.wx, err = a.startWeChat(ctx); err != nil {
		return err
	}
	if a.wx != nil {
		a.onClose(a.wx.Wait) // photos being fetched are attached before exit
	}
	if err := a.startDesks(ctx); err != nil {
		return err
	}
	// The citizen's door owns "/": what no door serves is its not-found.
	web.Register(a.engine)
	a.engine.Fallback("/", web.NotFound()...)
	return nil
}

// probes are the health and readiness checks, and the metrics behind
// their token; none of them logged or measured.
func (a *app) probes() {
	probes := a.engine.Group("", httpapi.Quiet)
	httpapi.Handle(probes, "GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") }))
	httpapi.Handle(probes, "GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.store.Ping(ctx); err != nil {
			a.log.Warn("not ready: store", "err", err)
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		if a.rdb != nil {
			if err := a.rdb.Ping(ctx).Err(); err != nil {
				a.log.Warn("not ready: redis", "err", err)
				http.Error(w, "redis unavailable", http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = io.WriteString(w, "ready\n")
	}))
	if a.cfg.MetricsToken != "" {
		// Public only behind the token; without one, only on the internal
		// debug listener.
		httpapi.Handle(probes, "GET /metrics", metricsGuard(a.cfg.MetricsToken, a.metrics))
	}
}

// fieldTypes are the catalogue's field report types, as the field door
// needs them, from the catalogue in force.
type fieldTypes struct{ live *routing.Live }

func (f fieldTypes) FieldType(code string) (field.Type, error) {
	l, err := f.live.Catalogue().FieldType(code)
	return fieldType(l), err
}

func (f fieldTypes) FieldTypes() []field.Type {
	var out []field.Type
	for _, l := range f.live.Catalogue().FieldTypes() {
		out = append(out, fieldType(l))
	}
	return out
}

func fieldType(l routing.Leaf) field.Type {
	return field.Type{Code: l.Code, Name: l.Name, Group: l.Group, Photo: l.Photo, Filing: l.Filing}
}

// run serves until ctx ends, then lets requests in flight finish and stops
// forwarding after intake.
func (a *app) run(ctx context.Context, stdout io.Writer) error {
	srv := &http.Server{
		Addr: a.cfg.HTTPAddr, Handler: a.engine,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // five photos on a slow mobile link
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return err
	}
	a.announce(stdout, ln.Addr())
	if a.cfg.DebugAddr != "" {
		dbg, err := startDebug(a.cfg.DebugAddr, a.metrics, a.log)
		if err != nil {
			return err
		}
		defer dbg.Close()
		fmt.Fprintf(stdout, "  debug:         %s/metrics, %s/debug/pprof/\n", baseURL(dbg.addr), baseURL(dbg.addr))
	}
	fwdDone := make(chan error, 1)
	fctx, stopForwarding := context.WithCancel(context.WithoutCancel(ctx))
	defer stopForwarding()
	if a.fwd != nil {
		go func() { fwdDone <- a.fwd.Run(fctx) }()
	} else {
		fwdDone <- nil
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Deliveries stop after intake: what was claimed and not sent goes back.
	stopForwarding()
	if err := <-fwdDone; err != nil {
		a.log.Warn("forwarding stopped with an error", "err", err)
	}
	a.log.Info("stopped")
	return nil
}

// announce says where each door is.
func (a *app) announce(stdout io.Writer, addr net.Addr) {
	shared := "in-process"
	if a.rdb != nil {
		shared = "redis"
	}
	base := baseURL(addr)
	fmt.Fprintf(stdout, "Yihao is running for %s (store: %s; shared state: %s)\n  citizen form:  %s/\n  track a ticket: %s/track\n  Open311:       %s%s/discovery.xml\n  health:        %s/readyz\n",
		a.cat.City, a.desc, shared, base, base, base, a.o311.Base(), base)
	fmt.Fprintf(stdout, "  agent page:    %s/agent\n  staff desks:   %s/desk\n", base, base)
	if len(a.phone.addrs) > 0 {
		fmt.Fprintf(stdout, "  SIP:           %s\n", strings.Join(a.phone.addrs, ", "))
	}
	a.log.Info("listening", "addr", addr.String(), "store", a.desc, "shared", shared)
}

func metricsGuard(token string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte("Bearer " + token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="yihao metrics"`)
			http.Error(w, "metrics need Authorization: Bearer <metrics token>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// open311Services are the catalogue's leaves as Open311 services.
func open311Services(leaves []routing.Leaf) []open311.Service {
	out := make([]open311.Service, 0, len(leaves))
	for _, l := range leaves {
		sv := open311.Service{Code: l.Code, Name: l.Name, Group: l.Group, Keywords: l.Keywords}
		for _, a := range l.Attributes {
			oa := open311.Attribute{Code: a.Code, Description: a.Description, Datatype: a.Datatype, Required: a.Required, Hint: a.Hint}
			for _, v := range a.Values {
				oa.Values = append(oa.Values, open311.Value{Key: v.Key, Name: v.Name})
			}
			sv.Attributes = append(sv.Attributes, oa)
		}
		out = append(out, sv)
	}
	return out
}

func baseURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	if tcp.IP.IsUnspecified() {
		return fmt.Sprintf("http://localhost:%d", tcp.Port)
	}
	return "http://" + tcp.String()
}
