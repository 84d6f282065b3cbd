package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yihao-city/yihao/routing/forward"
)

// Config is everything the binary reads: a YAML file (optional) and then
// YIHAO_* environment variables, which win.
type Config struct {
	HTTPAddr        string        `yaml:"http_addr"`
	DataDir         string        `yaml:"data_dir"`
	DatabaseURL     string        `yaml:"database_url"`
	RedisURL        string        `yaml:"redis_url"`
	RedisPrefix     string        `yaml:"redis_prefix"`
	Catalogue       string        `yaml:"catalogue"`
	ClassifierModel string        `yaml:"classifier_model"` // "off" disables the model
	Grid            string        `yaml:"grid"`             // "off" disables grid placement
	Gazetteer       string        `yaml:"gazetteer"`
	ReloadInterval  time.Duration `yaml:"reload_interval"`
	RateLimit       int           `yaml:"rate_limit_per_minute"`
	RateBurst       int           `yaml:"rate_limit_burst"`
	TrustedProxies  []string      `yaml:"trusted_proxies"`
	LogLevel        string        `yaml:"log_level"`
	DebugAddr       string        `yaml:"debug_addr"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Open311 is the GeoReport v2 door: its base path and jurisdiction_id.
	Open311Base         string `yaml:"open311_base"`
	Open311Jurisdiction string `yaml:"open311_jurisdiction"`
	// Forwarding lists the external platforms dispatched tickets are sent to.
	Forwarding []forward.Endpoint `yaml:"forwarding"`
}

func defaultConfig() Config {
	return Config{HTTPAddr: ":8080", DataDir: "./data", RedisPrefix: "yihao:", RateLimit: 30, RateBurst: 10, LogLevel: "info", Open311Base: "/open311/v2", ShutdownTimeout: 30 * time.Second, ReloadInterval: 10 * time.Second}
}

// loadConfig reads path (if not empty) over the defaults, then the environment.
func loadConfig(path string, getenv func(string) string) (Config, error) {
	cfg := defaultConfig()
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		dec := yaml.NewDecoder(f)
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	str("YIHAO_HTTP_ADDR", &cfg.HTTPAddr)
	str("YIHAO_DATA_DIR", &cfg.DataDir)
	str("YIHAO_DATABASE_URL", &cfg.DatabaseURL)
	str("YIHAO_REDIS_URL", &cfg.RedisURL)
	str("YIHAO_REDIS_PREFIX", &cfg.RedisPrefix)
	str("YIHAO_CATALOGUE", &cfg.Catalogue)
	str("YIHAO_CLASSIFIER_MODEL", &cfg.ClassifierModel)
	str("YIHAO_GRID", &cfg.Grid)
	str("YIHAO_GAZETTEER", &cfg.Gazetteer)
	str("YIHAO_LOG_LEVEL", &cfg.LogLevel)
	str("YIHAO_DEBUG_ADDR", &cfg.DebugAddr)
	str("YIHAO_OPEN311_BASE", &cfg.Open311Base)
	str("YIHAO_OPEN311_JURISDICTION", &cfg.Open311Jurisdiction)
	for name, dst := range map[string]*int{"YIHAO_RATE_LIMIT": &cfg.RateLimit, "YIHAO_RATE_BURST": &cfg.RateBurst} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return cfg, fmt.Errorf("config: %s=%q is not a whole number ≥ 0", name, v)
			}
			*dst = n
		}
	}
	if v := getenv("YIHAO_TRUSTED_PROXIES"); v != "" {
		cfg.TrustedProxies = strings.Split(v, ",")
	}
	if u := cfg.DatabaseURL; u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		return cfg, fmt.Errorf("config: database url must start with postgres:// (leave it empty for the embedded store)")
	}
	return cfg, nil
}
