package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

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
