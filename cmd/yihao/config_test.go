package main

import (
	"os"
	"path/filepath"
	"strings"
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
	// A negative bound in the file is refused as the environment's is.
	for _, line := range []string{"intake_max_inflight: -1\n", "intake_max_wait: -5ms\n"} {
		p := filepath.Join(t.TempDir(), "yihao.yaml")
		if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(p, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "must not be negative") {
			t.Errorf("%q: err = %v", line, err)
		}
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

// The phone door's trunks, gateways and per-source limit: low by default,
// set in the file or the environment, and refused when unreadable.
func TestSIPTrunkConfig(t *testing.T) {
	cfg, err := loadConfig("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SIP.RateLimit != 60 || cfg.SIP.RateBurst != 20 || len(cfg.SIP.Trunks) != 0 || len(cfg.SIP.Gateways) != 0 {
		t.Errorf("defaults: limit %d burst %d trunks %v gateways %v", cfg.SIP.RateLimit, cfg.SIP.RateBurst, cfg.SIP.Trunks, cfg.SIP.Gateways)
	}
	env := map[string]string{"YIHAO_SIP_TRUNKS": "203.0.113.0/28, 198.51.100.7", "YIHAO_SIP_GATEWAYS": "10.0.0.20:5070,sip:10.0.0.21;transport=tcp",
		"YIHAO_SIP_RATE_LIMIT": "30", "YIHAO_SIP_RATE_BURST": "5"}
	cfg, err = loadConfig("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	trunks, gateways, err := sipTrunks(cfg.SIP)
	if err != nil || len(trunks) != 2 || trunks[1].String() != "198.51.100.7/32" || len(gateways) != 2 ||
		gateways[1].Addr.String() != "10.0.0.21:5060" || gateways[1].Transport != "tcp" || cfg.SIP.RateLimit != 30 || cfg.SIP.RateBurst != 5 {
		t.Errorf("from the environment: trunks %v gateways %+v limit %d/%d err %v", trunks, gateways, cfg.SIP.RateLimit, cfg.SIP.RateBurst, err)
	}
	for name, sc := range map[string]SIPConfig{
		"trunk name":   {Trunks: []string{"carrier.example"}},
		"gateway name": {Gateways: []string{"sms.example:5060"}},
		"transport":    {Gateways: []string{"sip:10.0.0.20;transport=ws"}},
	} {
		if _, _, err := sipTrunks(sc); err == nil || !strings.Contains(err.Error(), "sip.") {
			t.Errorf("%s: %v, want an error naming the setting", name, err)
		}
	}
	if _, err := loadConfig("", func(k string) string { return map[string]string{"YIHAO_SIP_RATE_LIMIT": "many"}[k] }); err == nil {
		t.Error("YIHAO_SIP_RATE_LIMIT=many accepted")
	}
}

// The texts' settings: a gateway that exists, a night that reads, a key
// long enough; each error names its setting.
func TestTextsConfig(t *testing.T) {
	for name, c := range map[string]struct {
		env  map[string]string
		want string
	}{
		"sip without gateways": {map[string]string{"YIHAO_TEXTS_GATEWAY": "sip"}, "sip.gateways"},
		"http without a url":   {map[string]string{"YIHAO_TEXTS_GATEWAY": "http"}, "http_url"},
		"unknown gateway":      {map[string]string{"YIHAO_TEXTS_GATEWAY": "pager"}, "texts.gateway"},
		"short track key":      {map[string]string{"YIHAO_TRACK_KEY": "short"}, "track_key"},
	} {
		if _, err := loadConfig("", func(k string) string { return c.env[k] }); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, c.want)
		}
	}
	for quiet, want := range map[string][2]time.Duration{"": {21 * time.Hour, 8 * time.Hour}, "off": {}, "22:30-07:00": {22*time.Hour + 30*time.Minute, 7 * time.Hour}} {
		tc := TextsConfig{Quiet: quiet}
		if from, until, err := tc.quiet(); err != nil || from != want[0] || until != want[1] {
			t.Errorf("quiet %q: %v-%v, %v", quiet, from, until, err)
		}
	}
	for _, bad := range []string{"21:00", "25:00-08:00", "08:00-08:00", "night"} {
		tc := TextsConfig{Quiet: bad}
		if _, _, err := tc.quiet(); err == nil || !strings.Contains(err.Error(), "texts.quiet") {
			t.Errorf("quiet %q: %v", bad, err)
		}
	}
}

// main tunes the collector for the server and the load client only, so it
// reads the command as run does.
func TestCommand(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "serve"},
		{[]string{"--config", "yihao.yaml"}, "serve"},
		{[]string{"--config", "yihao.yaml", "bench", "intake"}, "bench"},
		{[]string{"-config=yihao.yaml", "gen", "--tickets", "10"}, "gen"},
		{[]string{"migrate"}, "migrate"},
		{[]string{"--nonsense"}, ""},
	} {
		if got := command(c.args); got != c.want {
			t.Errorf("command(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}
