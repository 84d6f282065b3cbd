// Command yihao is the intake hub of a merged citizen hotline: the server,
// and the commands that run beside it.
//
//	yihao [serve]                        start the server (the default)
//	yihao migrate                        apply database migrations and exit
//	yihao token create --role ROLE       print a new staff API token
//	yihao user add|list|disable          manage staff sign-ins
//	yihao agent add|list|remove          manage agents' SIP accounts
//	yihao classify train|eval|predict    train and measure the text classifier
//	yihao grid generate|import|locate    make, install and query the unit grid
//	yihao forward status|dead|requeue    the delivery queues to external platforms
//	yihao bench intake|wechat|desks      load a running server and measure it
//	yihao gen --tickets N                generated history for benchmarks
//	yihao help                           the usage text, with each command's flags
//
// main only reads the environment and the signals; run does the rest, so
// the tests drive exactly what the binary does.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/yihao-city/yihao/channels/hotline"
	"github.com/yihao-city/yihao/channels/open311"
	"github.com/yihao-city/yihao/channels/webform"
	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/redis"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/routing/forward"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "yihao:", err)
		os.Exit(1)
	}
}

const usage = `usage: yihao [--config FILE] [command]

commands:
  serve                         start the server (default)
  migrate                       apply database migrations and exit
  token create --role ROLE      print a new API token (roles: admin, agent, dispatcher, liaison, open311, cti)
                                or --user NAME: a token acting for that user, with its role
  user add|list|disable         manage staff sign-ins: yihao user add --name wang.fang --role agent --password -
  agent add|list|remove         manage agents' SIP accounts (坐席): yihao agent add --ext 2001 --password -
  classify train|eval|predict   train and measure the text classifier
  grid generate|import|locate   make, install and query the unit grid
  forward status|dead|requeue   see and mend the delivery queues to external platforms
  bench intake|wechat|desks     load a running server and measure it
  gen --tickets N               fill PostgreSQL with N tickets of generated history (for benchmarks)

configuration: see README.md (YIHAO_HTTP_ADDR, YIHAO_DATA_DIR, YIHAO_DATABASE_URL, YIHAO_REDIS_URL, ...)
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("yihao", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	configPath := fs.String("config", getenv("YIHAO_CONFIG"), "YAML configuration file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	args = fs.Args()
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "bench":
		return runBench(ctx, args, stdout)
	case "classify":
		return runClassify(ctx, args, stdout)
	}
	cfg, err := loadConfig(*configPath, getenv)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.LogLevel, stderr)
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log, stdout)
	case "migrate":
		_, closeStore, desc, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		closeStore()
		fmt.Fprintf(stdout, "migrations applied (%s)\n", desc)
		return nil
	case "token":
		return tokenCommand(ctx, cfg, args, stdout, stderr)
	case "agent":
		return agentCommand(ctx, cfg, args, os.Stdin, stdout, stderr)
	case "user":
		return userCommand(ctx, cfg, args, os.Stdin, stdout, stderr)
	case "grid":
		return gridCommand(ctx, args, stdout, cfg.DataDir)
	case "forward":
		return forwardCommand(ctx, cfg, args, stdout, stderr)
	case "gen":
		return runGen(ctx, cfg, args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("config: log level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// openStore opens PostgreSQL when a database URL is set, else the embedded
// SQLite file in the data directory. Both migrate on open.
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

func serve(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	files := routingFilesOf(cfg)
	_, cat, err := loadRouting(files)
	if err != nil {
		return err
	}
	router, err := routing.NewLive(func() (*routing.Router, error) {
		r, _, err := loadRouting(files)
		return r, err
	})
	if err != nil {
		return err
	}
	go watchRouting(ctx, router, files, cfg.ReloadInterval, log)
	loc, _ := cat.Location()
	store, closeStore, desc, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	photos, err := media.NewDisk(filepath.Join(cfg.DataDir, "media"))
	if err != nil {
		return err
	}

	var rdb *goredis.Client
	var limiter webform.Limiter
	rate := limit.PerMinute(cfg.RateLimit, cfg.RateBurst)
	if cfg.RedisURL != "" {
		if rdb, err = redis.Connect(ctx, cfg.RedisURL); err != nil {
			return err
		}
		defer func() { _ = rdb.Close() }()
		if cfg.RateLimit > 0 {
			limiter = redis.NewLimiter(rdb, cfg.RedisPrefix+"intake:", rate)
		}
	} else if cfg.RateLimit > 0 {
		limiter = limit.NewLocal(rate)
	}

	svc := ticketing.NewService(store, router, ticketing.WithLocation(loc), ticketing.WithLogger(log), ticketing.WithDefaultCountry(cfg.SIP.DefaultCountry),
		ticketing.WithDuplicates(ticketing.DuplicatePolicy{Radius: cat.Duplicates.RadiusM, Window: cat.Duplicates.Window, AutoMerge: cat.Duplicates.AutoMergeAt}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	categories := func() []webform.Category {
		var cats []webform.Category
		for _, c := range router.Catalogue().Leaves() {
			cats = append(cats, webform.Category{Code: c.Code, Name: c.Name, Group: c.Group})
		}
		return cats
	}
	intake := httpapi.NewMetrics(reg)
	web, err := webform.New(webform.Config{City: cat.City, Categories: categories, Location: loc},
		svc, photos, store, limiter, log, intake)
	if err != nil {
		return err
	}

	o311, err := open311.New(open311.Config{Base: cfg.Open311Base, Jurisdiction: cfg.Open311Jurisdiction,
		Services: open311Services(cat.Leaves()), Location: loc}, svc, store, log, intake)
	if err != nil {
		return err
	}

	// Forwarders register their queues before the first report is taken,
	// so no message misses an endpoint.
	var fwd *forward.Forwarder
	if len(cfg.Forwarding) > 0 {
		ds, ok := store.(ticketing.DeliveryStore)
		if !ok {
			return fmt.Errorf("forwarding: the %s store keeps no delivery queue", desc)
		}
		if fwd, err = forward.New(ds, svc, svc, cfg.Forwarding, forward.WithLogger(log)); err != nil {
			return err
		}
		if err := fwd.Register(ctx); err != nil {
			return err
		}
		names := make([]string, len(cfg.Forwarding))
		for i, e := range cfg.Forwarding {
			names[i] = e.Name
		}
		reg.MustRegister(newQueueCollector(ds, names))
	}

	// One engine for every HTTP door: request ids, the access log, metrics,
	// recovery and the client's address behind trusted proxies, once.
	mux, err := httpapi.New(httpapi.Config{TrustedProxies: cfg.TrustedProxies, Log: log, Metrics: intake})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	probes := mux.Group("", httpapi.Quiet)
	httpapi.Handle(probes, "GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") }))
	httpapi.Handle(probes, "GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			log.Warn("not ready: store", "err", err)
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		if rdb != nil {
			if err := rdb.Ping(ctx).Err(); err != nil {
				log.Warn("not ready: redis", "err", err)
				http.Error(w, "redis unavailable", http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = io.WriteString(w, "ready\n")
	}))
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	if cfg.MetricsToken != "" {
		// Public only behind the token; without one, only on the internal
		// debug listener.
		httpapi.Handle(probes, "GET /metrics", metricsGuard(cfg.MetricsToken, metrics))
	}
	o311.Register(mux)
	mux.Fallback(o311.Base()+"/", o311.NotFound)
	numbers := make([]string, len(cfg.SIP.Lines))
	for i, l := range cfg.SIP.Lines {
		numbers[i] = l.Number
	}
	calls := hotline.NewSIPMetrics(reg, numbers...)
	ph, err := startPhone(ctx, cfg, store, svc, rdb, calls, log, mux)
	if err != nil {
		return err
	}
	defer ph.Close()
	hotline.New(hotline.Config{Location: loc, DefaultCountry: cfg.SIP.DefaultCountry, Pops: ph.bus, Lines: ph.lines, Earlier: store, Calls: calls},
		store, log, intake).Register(mux)
	wx, err := startWeChat(ctx, cfg, store, svc, photos, rdb, log, mux)
	if err != nil {
		return err
	}
	if wx != nil {
		defer wx.Wait() // photos being fetched are attached before exit
	}
	if err := startDesks(ctx, cfg, store, svc, router, files, loc, ph, photos, rdb, log, mux); err != nil {
		return err
	}
	// The citizen's door owns "/": what no door serves is its not-found.
	web.Register(mux)
	mux.Fallback("/", web.NotFound()...)

	srv := &http.Server{
		Addr: cfg.HTTPAddr, Handler: mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // five photos on a slow mobile link
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	shared := "in-process"
	if rdb != nil {
		shared = "redis"
	}
	fmt.Fprintf(stdout, "Yihao is running for %s (store: %s; shared state: %s)\n  citizen form:  %s/\n  track a ticket: %s/track\n  Open311:       %s%s/discovery.xml\n  health:        %s/readyz\n",
		cat.City, desc, shared, baseURL(ln.Addr()), baseURL(ln.Addr()), baseURL(ln.Addr()), o311.Base(), baseURL(ln.Addr()))
	fmt.Fprintf(stdout, "  agent page:    %s/agent\n  staff desks:   %s/desk\n", baseURL(ln.Addr()), baseURL(ln.Addr()))
	if len(ph.addrs) > 0 {
		fmt.Fprintf(stdout, "  SIP:           %s\n", strings.Join(ph.addrs, ", "))
	}
	log.Info("listening", "addr", ln.Addr().String(), "store", desc, "shared", shared)

	if cfg.DebugAddr != "" {
		dbg, err := startDebug(cfg.DebugAddr, metrics, log)
		if err != nil {
			return err
		}
		defer dbg.Close()
		fmt.Fprintf(stdout, "  debug:         %s/metrics, %s/debug/pprof/\n", baseURL(dbg.addr), baseURL(dbg.addr))
	}
	fwdDone := make(chan error, 1)
	fctx, stopForwarding := context.WithCancel(context.WithoutCancel(ctx))
	defer stopForwarding()
	if fwd != nil {
		go func() { fwdDone <- fwd.Run(fctx) }()
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
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Deliveries stop after intake: what was claimed and not sent goes back.
	stopForwarding()
	if err := <-fwdDone; err != nil {
		log.Warn("forwarding stopped with an error", "err", err)
	}
	log.Info("stopped")
	return nil
}

// metricsGuard serves /metrics on the public listener only to a request
// bearing the metrics token (compared in constant time).
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

// debugServer is the internal listener: Go profiles and the metrics, with
// no token. It must never be reachable from outside (bind it to loopback
// or an internal network).
type debugServer struct {
	srv  *http.Server
	addr net.Addr
}

func (d *debugServer) Close() { _ = d.srv.Close() }

// startDebug serves pprof and metrics on addr. Its timeouts leave room for
// a 60-second CPU profile or trace, and no more.
func startDebug(addr string, metrics http.Handler, log *slog.Logger) (*debugServer, error) {
	dbg := http.NewServeMux()
	dbg.HandleFunc("/debug/pprof/", pprof.Index)
	dbg.HandleFunc("/debug/pprof/profile", pprof.Profile)
	dbg.HandleFunc("/debug/pprof/trace", pprof.Trace)
	dbg.Handle("GET /metrics", metrics)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listener: %w", err)
	}
	srv := &http.Server{Handler: dbg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug listener stopped", "err", err)
		}
	}()
	return &debugServer{srv: srv, addr: ln.Addr()}, nil
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

func tokenCommand(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: yihao token create --role ROLE [--department CODE] [--name NAME] | --user USER [--name NAME]")
	}
	fs := flag.NewFlagSet("yihao token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "admin, agent, dispatcher, liaison, open311 or cti")
	name := fs.String("name", "", "who or what the token is for")
	user := fs.String("user", "", "the user the token acts for, with the user's role")
	dept := fs.String("department", "", "the department a liaison token acts for (required for --role liaison without --user)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var secret string
	var tok *ticketing.Token
	var err error
	switch {
	case *user != "" && *dept != "":
		return errors.New("token create: a user's token acts in the user's department; leave out --department")
	case *user == "" && ticketing.Role(*role) == ticketing.RoleLiaison && *dept == "":
		return errors.New("token create: a liaison token needs --department CODE (the department it acts for), or --user NAME")
	case *user == "":
		if *dept != "" {
			if err := checkDepartment(cfg, *dept); err != nil {
				return fmt.Errorf("token create: %w", err)
			}
		}
		if secret, tok, err = ticketing.NewDepartmentToken(ticketing.Role(*role), *dept, *name, time.Now()); err != nil {
			return fmt.Errorf("token create: %w", err)
		}
	}
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	if *user != "" {
		if secret, tok, err = userToken(ctx, store, *user, ticketing.Role(*role), *name); err != nil {
			return err
		}
	}
	if err := store.CreateToken(ctx, tok); err != nil {
		return err
	}
	// The secret is shown once; only its digest is stored.
	fmt.Fprintln(stdout, secret)
	return nil
}
