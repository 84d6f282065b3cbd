// Command yihao is the intake hub of a merged citizen hotline: the server,
// and the commands that run beside it.
//
//	yihao [serve]                        start the server (the default)
//	yihao migrate                        apply database migrations and exit
//	yihao token create --role ROLE       print a new staff API token
//	yihao user add|list|disable          manage staff sign-ins
//	yihao agent add|list|remove          manage agents' SIP accounts
//	yihao kb import|search               the knowledge base (知识库)
//	yihao classify train|eval|predict    train and measure the text classifier
//	yihao grid generate|import|locate    make, install and query the unit grid
//	yihao forward status|dead|requeue    the delivery queues to external platforms
//	yihao bench intake|wechat|desks|field load a running server and measure it
//	yihao gen --tickets N                generated history for benchmarks
//	yihao help                           the usage text, with each command's flags
//
// main only reads the environment and the signals; run does the rest, so
// the tests drive exactly what the binary does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/yihao-city/yihao/internal/loadgen"
	"github.com/yihao-city/yihao/ticketing"
)

func main() {
	if c := command(os.Args[1:]); c == "serve" || c == "bench" {
		tuneGC(os.Getenv, c == "serve")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "yihao:", err)
		os.Exit(1)
	}
}

// tuneGC sets the collector for a service whose live heap is small and
// whose garbage is mostly per request: at Go's default (GOGC=100) a busy
// instance spent a fifth of its CPU collecting, and intake ran 13% faster
// at 400 (BENCHMARKS.md). The memory limit keeps the larger heap inside
// the budget of 256 MB a process (200 MB of Go's memory; the rest is the
// binary's pages, 20–40 MB of resident file mappings): near it the
// collector runs as often as it must, as it does for the moment a burst
// of sign-ins lasts (argon2id, 64 MB a check, at most four at once).
// GOGC and GOMEMLIMIT, when set, win. Only the server and the load client
// are tuned; the one-shot commands (gen, imports) keep Go's defaults. The
// load client gets no memory limit (limit false): its live heap is the
// reports it made ahead, which grow with --n, and under a limit below them
// its collector ran without pause (an hour's soak at 200 reports a second:
// 720,000 reports, the client at 1.3 cores).
//
// It is called from main, not run: run also serves the tests, whose
// process (under the race detector) must keep Go's defaults.
func tuneGC(getenv func(string) string, limit bool) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if limit && getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(200 << 20)
	}
}

// command is the command args name, as run reads it: "serve" if none,
// "" if the flags do not parse (run then says why).
func command(args []string) string {
	fs := flag.NewFlagSet("yihao", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("config", "", "")
	if err := fs.Parse(args); err != nil {
		return ""
	}
	if fs.NArg() == 0 {
		return "serve"
	}
	return fs.Arg(0)
}

const usage = `usage: yihao [--config FILE] [command]

commands:
  serve                         start the server (default)
  migrate                       apply database migrations and exit
  token create --role ROLE      print a new API token (roles: admin, agent, dispatcher, liaison, open311, cti)
                                or --user NAME: a token acting for that user, with its role
  user add|list|disable         manage staff sign-ins: yihao user add --name wang.fang --role agent --password -
  agent add|list|remove         manage agents' SIP accounts (坐席): yihao agent add --ext 2001 --password -
  kb import|search              the knowledge base (知识库): yihao kb import --in articles.csv
  classify train|eval|predict   train and measure the text classifier
  grid generate|import|locate   make, install and query the unit grid
  forward status|dead|requeue   see and mend the delivery queues to external platforms
  bench intake|wechat|desks|field load a running server and measure it
  gen --tickets N               fill PostgreSQL with N tickets of generated history (for benchmarks)
  hotspots scan|eval            recurring problems by category and place (热点)

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
		return loadgen.Run(ctx, args, stdout)
	case "classify":
		return runClassify(ctx, args, stdout, func() (Config, error) { return loadConfig(*configPath, getenv) })
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
	case "hotspots":
		return runHotspots(ctx, cfg, args, stdout)
	case "kb":
		return kbCommand(ctx, cfg, args, stdout, stderr)
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
