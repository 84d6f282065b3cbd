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
		"cookie secure":  {"YIHAO_COOKIE_SECURE": "sometimes"},
		"plaintext":      {"YIHAO_WECHAT_PLAINTEXT": "maybe"},
		"short token":    {"YIHAO_METRICS_TOKEN": "short"},
		"bad proxy":      {"YIHAO_TRUSTED_PROXIES": "10.0.0.1,proxy.example"},
	} {
		if _, err := loadConfig("", func(k string) string { return env[k] }); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := loadConfig("../../configs/city.yaml", func(string) string { return "" }); err == nil {
		t.Error("a file with unknown keys was accepted")
	}
}

// Staff cookies are Secure unless insecure_cookies says otherwise, and
// YIHAO_COOKIE_SECURE wins over both.
func TestSecureCookiesSetting(t *testing.T) {
	for _, tc := range []struct {
		insecure bool
		env      string
		want     bool
	}{{false, "", true}, {true, "", false}, {true, "true", true}, {false, "false", false}} {
		env := map[string]string{"YIHAO_COOKIE_SECURE": tc.env}
		cfg, err := loadConfig("", func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		cfg.InsecureCookies = tc.insecure
		if got := cfg.SecureCookies(); got != tc.want {
			t.Errorf("insecure_cookies %v, YIHAO_COOKIE_SECURE %q: Secure %v, want %v", tc.insecure, tc.env, got, tc.want)
		}
	}
}
