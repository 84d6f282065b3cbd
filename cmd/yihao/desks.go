package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/yihao-city/yihao/desks"
	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/redis"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/routing/forward"
	"github.com/yihao-city/yihao/routing/grid"
	"github.com/yihao-city/yihao/ticketing"
)

// startDesks wires the staff desks onto the engine and starts what keeps them
// current on every instance: the relay that turns every ticket change,
// from any door and any instance, into a live event; the rollup that folds
// indicator tallies into daily sums; and the deadline scanner that turns
// lights yellow and red. Each runs on every instance and works from the
// database, so none is lost when an instance stops and none is done twice.
func (a *app) startDesks(ctx context.Context) error {
	cfg, store, svc, router, files, loc, ph, photos, rcmd, log, mux := a.cfg, a.store, a.svc, a.router, a.files, a.loc, a.phone, a.photos, a.rcmd, a.log, a.engine
	if err := putConfiguredUsers(ctx, store, cfg.Users, router, log); err != nil {
		return err
	}
	// The desks' key is derived from the shared secret, so a session
	// cookie never doubles as a SIP nonce or an agent-page cookie.
	key := sha256.Sum256(append([]byte("yihao desks session\x00"), ph.secret...))
	var login desks.Limiter = limit.NewLocal(limit.PerMinute(10, 5))
	if rcmd != nil {
		login = redis.NewLimiter(rcmd, cfg.RedisPrefix+"login:", limit.PerMinute(10, 5))
	}
	areas, err := loadAreas(files)
	if err != nil {
		return err
	}
	srv, err := desks.New(desks.Config{
		SessionKey: key[:], Location: loc, LoginLimiter: login, InsecureCookies: !cfg.SecureCookies(),
		Departments: func() []desks.Department {
			var out []desks.Department
			org := router.Org()
			for _, d := range router.Catalogue().Departments {
				var areas []string
				for _, a := range org.Path(d.Area) {
					areas = append(areas, a.Code)
				}
				out = append(out, desks.Department{Code: d.Code, Name: d.Name, Areas: areas})
			}
			return out
		},
		Categories: func() []desks.Category {
			var out []desks.Category
			for _, c := range router.Catalogue().Leaves() {
				out = append(out, desks.Category{Code: c.Code, Name: c.Name})
			}
			return out
		},
		AreaLevel: router.AreaLevel,
		Areas:     areas,
		Hotline:   store.HotlineStats,
		Photos:    photos,
		Knowledge: a.kb,
	}, store, svc, ph.bus, log)
	if err != nil {
		return err
	}
	srv.Register(mux)

	if feed, ok := store.(ticketing.ChangeFeed); ok {
		relay := desks.NewRelay(feed, ph.bus, log)
		if err := relay.Register(ctx); err != nil {
			return err
		}
		// The relay was a delivery endpoint before it read the feed
		// (migration 00029 removed it); an older instance starting during
		// a rolling upgrade registers it again, and its deliveries would
		// pile up unread once the last such instance is gone. Unless a
		// forwarder goes by that name.
		if ds, ok := store.(ticketing.DeliveryStore); ok && !slices.ContainsFunc(a.cfg.Forwarding,
			func(e forward.Endpoint) bool { return e.Name == desks.RelayFeed }) {
			if err := ds.RemoveEndpoint(ctx, desks.RelayFeed); err != nil {
				return err
			}
		}
		go relay.Run(ctx)
	}
	go every(ctx, 10*time.Second, func() {
		if _, err := store.RollupIndicators(ctx, loc); err != nil && ctx.Err() == nil {
			log.Warn("indicator rollup failed", "err", err)
		}
	})
	go every(ctx, 30*time.Second, func() {
		// A backlog (after a stop) is worked off in batches at once.
		for {
			n, err := svc.Escalate(ctx, 500)
			if err != nil && ctx.Err() == nil {
				log.Warn("deadline scan failed", "err", err)
			}
			if err != nil || n < 500 {
				return
			}
		}
	})
	return nil
}

// every calls fn now and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// loadAreas reads the grid for the indicators' names and map; nil when
// grid placement is off.
func loadAreas(files routingFiles) (*desks.Areas, error) {
	if files.grid == "off" {
		return nil, nil
	}
	ix, err := loadGrid(files)
	if err != nil {
		return nil, err
	}
	a := &desks.Areas{Names: map[string]string{}}
	for c := range ix.Cells() {
		a.Names[c.Code], a.Names[c.Community], a.Names[c.Street], a.Names[c.District] = c.Name, c.CommunityName, c.StreetName, c.DistrictName
		if c.Kind != grid.KindUnit {
			continue
		}
		rings, _ := ix.Outline(c.Code)
		a.Cells = append(a.Cells, desks.MapCell{Code: c.Code, Name: c.Name, Rings: rings,
			Area: ticketing.Area{Grid: c.Code, Community: c.Community, Street: c.Street, District: c.District}})
	}
	return a, nil
}

// putConfiguredUsers adds the staff listed in the configuration file (the
// demo's) to the store when they are missing; their passwords become
// argon2id hashes there. A user already stored is left as it is: `yihao
// user disable` or a new password set with `yihao user add` holds across
// restarts, and sessions are not ended by a start.
func putConfiguredUsers(ctx context.Context, store ticketing.Store, users []UserConfig, router *routing.Live, log *slog.Logger) error {
	for _, u := range users {
		if _, ok := router.Org().Area(u.Area); u.Area != "" && !ok {
			return fmt.Errorf("config: user %s: area %q is not a district, street or community of the catalogue", u.Name, u.Area)
		}
		if err := router.CheckCells(u.Area, u.Cells); err != nil {
			return fmt.Errorf("config: user %s: %w", u.Name, err)
		}
		switch _, err := store.UserByName(ctx, u.Name); {
		case err == nil:
			log.Debug("configured user already stored; left as it is", "user", u.Name)
			continue
		case !errors.Is(err, ticketing.ErrNotFound):
			return fmt.Errorf("config: user %s: %w", u.Name, err)
		}
		hash, err := ticketing.HashPassword(u.Password)
		if err != nil {
			return fmt.Errorf("config: user %s: %w", u.Name, err)
		}
		now := time.Now()
		if err := store.PutUser(ctx, &ticketing.User{Name: u.Name, DisplayName: u.Display, Role: ticketing.Role(u.Role),
			Department: u.Department, Area: u.Area, Cells: u.Cells, PasswordHash: hash, UpdatedAt: now}); err != nil {
			return fmt.Errorf("config: user %s: %w", u.Name, err)
		}
		log.Info("configured user added", "user", u.Name, "role", u.Role)
	}
	return nil
}
