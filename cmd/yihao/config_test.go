package main

import (
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	env := map[string]string{"YIHAO_HTTP_ADDR": "127.0.0.1:9000", "YIHAO_RATE_LIMIT": "0", "YIHAO_TRUSTED_PROXIES": "10.0.0.1,10.0.0.2"}
	cfg, err := loadConfig("../../configs/yihao.example.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:9000" || cfg.RateLimit != 0 || cfg.RateBurst != 10 || cfg.DataDir != "./data" ||
		cfg.ShutdownTimeout != 30*time.Second || len(cfg.TrustedProxies) != 2 {
		t.Errorf("config = %+v", cfg)
	}
	for name, env := range map[string]map[string]string{
		"mysql url":      {"YIHAO_DATABASE_URL": "mysql://x"},
		"negative limit": {"YIHAO_RATE_LIMIT": "-1"},
		"word limit":     {"YIHAO_RATE_BURST": "lots"},
	} {
		if _, err := loadConfig("", func(k string) string { return env[k] }); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := loadConfig("../../configs/city.yaml", func(string) string { return "" }); err == nil {
		t.Error("a file with unknown keys was accepted")
	}
}
