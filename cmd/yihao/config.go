package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/routing/forward"
	"github.com/yihao-city/yihao/ticketing"
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
	// IntakeInFlight is how many reports an instance works on at once,
	// whatever their door; one more waits at most IntakeWait for a turn and
	// is then answered 503 with Retry-After: 1 (0: no bound).
	IntakeInFlight int           `yaml:"intake_max_inflight"`
	IntakeWait     time.Duration `yaml:"intake_max_wait"`
	TrustedProxies []string      `yaml:"trusted_proxies"`
	LogLevel       string        `yaml:"log_level"`
	DebugAddr      string        `yaml:"debug_addr"`
	// MetricsToken lets /metrics be read on the public listener with
	// Authorization: Bearer <token> (YIHAO_METRICS_TOKEN); without it the
	// metrics are only on the debug listener.
	MetricsToken string `yaml:"metrics_token"`
	// CookieSecure sets the Secure flag of the desks' and the agent page's
	// cookies (YIHAO_COOKIE_SECURE). Unset: Secure, unless insecure_cookies.
	CookieSecure    *bool         `yaml:"cookie_secure"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Open311 is the GeoReport v2 door: its base path and jurisdiction_id.
	Open311Base         string `yaml:"open311_base"`
	Open311Jurisdiction string `yaml:"open311_jurisdiction"`
	// Forwarding lists the external platforms dispatched tickets are sent to.
	Forwarding []forward.Endpoint `yaml:"forwarding"`
	// SIP is the phone door: agents' accounts are checked in its realm.
	SIP SIPConfig `yaml:"sip"`
	// WeChat is the official account door; off while Token is empty.
	WeChat WeChatConfig `yaml:"wechat"`
	// InsecureCookies sends staff sign-in cookies without the Secure flag:
	// only for trying Yihao over plain http on one machine.
	InsecureCookies bool `yaml:"insecure_cookies"`
	// Users are staff accounts put in the store at start (the demo's);
	// a real centre adds them with `yihao user add`.
	Users []UserConfig `yaml:"users"`
	// KnowledgeSeed is a knowledge-base file (CSV or YAML, as `yihao kb
	// import` reads) put in the store at start when it has no articles;
	// "demo" is the demo city's. Empty: none.
	KnowledgeSeed string `yaml:"kb_seed"`
	// KnowledgeSynonyms is the YAML file of the words the search folds
	// together (synonyms: [[社保, 社会保险], …]); empty: the demo city's.
	KnowledgeSynonyms string `yaml:"kb_synonyms"`
	// Texts are the SMS notices to citizens who left a mobile (回访).
	Texts TextsConfig `yaml:"texts"`
	// TrackKey derives the tracking codes texts carry (YIHAO_TRACK_KEY, at
	// least 32 characters, the same on every instance; changing it breaks
	// the links already sent). Empty: a random key kept in the data
	// directory as track.key, made on first start.
	TrackKey string `yaml:"track_key"`
}

// TextsConfig is how citizens are texted: the gateway and what it may send.
type TextsConfig struct {
	// Gateway is "sip" (MESSAGE through the first of sip.gateways), "http"
	// (an SMS platform's HTTP API) or "" (no texts; YIHAO_TEXTS_GATEWAY).
	Gateway     string `yaml:"gateway"`
	HTTPURL     string `yaml:"http_url"`     // YIHAO_TEXTS_HTTP_URL
	HTTPAccount string `yaml:"http_account"` // YIHAO_TEXTS_HTTP_ACCOUNT
	HTTPSecret  string `yaml:"http_secret"`  // YIHAO_TEXTS_HTTP_SECRET
	// Sign is the sender's signature, 【Sign】 (default 12345).
	Sign string `yaml:"sign"`
	// TrackURL is the citizen site the links point at
	// (https://12345.example.gov.cn; YIHAO_TEXTS_TRACK_URL). Empty: no link.
	TrackURL string `yaml:"track_url"`
	// Quiet is the night no text goes out in but an urgent ticket's, as
	// "21:00-08:00" (the default); "off" for none.
	Quiet string `yaml:"quiet"`
	// RatingWindow is how long a rating request may be answered (default 7 days).
	RatingWindow time.Duration `yaml:"rating_window"`
	// Poll is the idle wait between the outbox's claims (default 1 s).
	Poll time.Duration `yaml:"poll"`
	// RetryMax caps the wait between tries while the gateway fails
	// (default 5 minutes).
	RetryMax time.Duration `yaml:"retry_max"`
}

// UserConfig is a staff account in the configuration file.
type UserConfig struct {
	Name       string   `yaml:"name"`
	Display    string   `yaml:"display"`
	Role       string   `yaml:"role"`
	Department string   `yaml:"department"`
	Area       string   `yaml:"area"`  // a local centre's district, street or community
	Cells      []string `yaml:"cells"` // a supervisor's unit cells, within the area
	Password   string   `yaml:"password"`
}

// WeChatConfig is the official account (公众号) as its console shows it.
type WeChatConfig struct {
	AppID     string `yaml:"app_id"`     // YIHAO_WECHAT_APP_ID
	AppSecret string `yaml:"app_secret"` // YIHAO_WECHAT_APP_SECRET: for the API (photos, notices)
	Token     string `yaml:"token"`      // YIHAO_WECHAT_TOKEN: signs pushes; empty turns the door off
	AESKey    string `yaml:"aes_key"`    // YIHAO_WECHAT_AES_KEY: EncodingAESKey (safe mode)
	// Plaintext allows plaintext mode without an AES key
	// (YIHAO_WECHAT_PLAINTEXT=true): pushes are then signed in their URL
	// only. Without a key and without this the server does not start.
	Plaintext bool   `yaml:"plaintext"`
	APIBase   string `yaml:"api_base"` // YIHAO_WECHAT_API_BASE: default https://api.weixin.qq.com
	Path      string `yaml:"path"`     // where pushes arrive; default /wechat
	// ReplayWindow refuses pushes whose timestamp is further from now (default 5 minutes).
	ReplayWindow time.Duration `yaml:"replay_window"`
	// ConversationWindow: messages within it go to the ticket the first one made (default 10 minutes).
	ConversationWindow time.Duration `yaml:"conversation_window"`
	// AnswerScore: a question the knowledge base answers with at least
	// this score (0–1) is answered at once (default 0.6).
	AnswerScore  float64 `yaml:"answer_score"`
	ReportKey    string  `yaml:"report_key"`     // the menu's CLICK key for "report a problem" (REPORT)
	MyTicketsKey string  `yaml:"my_tickets_key"` // and for "my tickets" (MY_TICKETS)
	// Template ids of the notices (keys number, status, department, time);
	// empty sends customer-service texts instead.
	DispatchedTemplate string `yaml:"dispatched_template"`
	FinishedTemplate   string `yaml:"finished_template"`
	// Subscribe: the template ids are subscribe messages (订阅通知).
	Subscribe bool `yaml:"subscribe"`
	// TrackURL is the public base the notices link to (…/t/ + number).
	TrackURL string `yaml:"track_url"`
}

// SIPConfig configures the phone door: the SIP registrar, ACD and proxy,
// and the merged lines.
type SIPConfig struct {
	// Realm is the digest realm; agents' HA1 are computed for it, so
	// changing it means setting every agent's password again.
	Realm string `yaml:"realm"`
	// Addr is where SIP is served over UDP and TCP (YIHAO_SIP_ADDR,
	// default :5060); "off" turns the SIP side off (the CTI webhook stays).
	Addr string `yaml:"addr"`
	// Advertise is the address phones and carriers reach this instance at
	// (YIHAO_SIP_ADVERTISE; default: the host of Addr, or 127.0.0.1).
	Advertise string `yaml:"advertise"`
	// Transports served on Addr (default udp and tcp).
	Transports []string `yaml:"transports"`
	// TLS on TLSAddr (default :5061) when both files are set.
	TLSAddr string `yaml:"tls_addr"`
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Secret signs digest nonces, the dialog tokens of proxied calls and
	// agents' page sessions (YIHAO_SIP_SECRET). Empty: shared through
	// Redis when configured, else random per process.
	Secret string `yaml:"secret"`
	// Mode: proxy (default; the hub sees answer, cancel and hangup) or
	// redirect (302 to the agent, for a PBX in front that reports by CTI).
	Mode string `yaml:"mode"`
	// Strategy: longest_idle (default) or round_robin.
	Strategy     string        `yaml:"strategy"`
	SkillsByLine bool          `yaml:"skills_by_line"`
	WrapUp       time.Duration `yaml:"wrap_up"`
	QueueWait    time.Duration `yaml:"queue_wait"`
	// MaxQueued bounds the callers waiting on one instance (default 2,000).
	MaxQueued int `yaml:"max_queued"`
	// MaxCallRate bounds the new calls one instance takes a second, trunks'
	// included; the excess gets 503 at once (default 1,000; -1: no bound).
	MaxCallRate int           `yaml:"max_call_rate"`
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// MaxExpires caps how long a phone's registration lasts (default 10 m).
	MaxExpires time.Duration `yaml:"max_expires"`
	Fallback   struct {
		Code       int           `yaml:"code"` // 486 (default), 480 or 302
		RetryAfter time.Duration `yaml:"retry_after"`
		Redirect   string        `yaml:"redirect"` // for 302: voicemail or IVR URI
	} `yaml:"fallback"`
	DefaultCountry string `yaml:"default_country"` // 86
	// RateLimit caps INVITE, REGISTER, MESSAGE and OPTIONS per source
	// address a minute, trunks and gateways exempt (YIHAO_SIP_RATE_LIMIT;
	// default 60, a phone needs a few; 0 or less: no limit). RateBurst is
	// how many may come at once above it (YIHAO_SIP_RATE_BURST; default 20).
	RateLimit int `yaml:"rate_limit_per_minute"`
	RateBurst int `yaml:"rate_limit_burst"`
	// Trunks are the carriers' trunks and SBCs, addresses or CIDR prefixes
	// (YIHAO_SIP_TRUNKS, comma-separated). When trunks or gateways are set,
	// calls and texts to the lines, and the caller's identity
	// (P-Asserted-Identity, Diversion, History-Info), are taken from them
	// only; anyone else gets 403. They are not rate limited.
	Trunks []string `yaml:"trunks"`
	// Gateways are the SMS gateways, host:port or
	// sip:host:port;transport=tcp (YIHAO_SIP_GATEWAYS, comma-separated):
	// their texts are taken like a trunk's, and a text's ticket number is
	// sent back only to the gateway it came from.
	Gateways []string `yaml:"gateways"`
	// AuthFailures wrong passwords for one extension within AuthWindow
	// lock it out for AuthLockout, from every source and instance
	// (default 5 in 15 minutes, locked 15 minutes); the agent page's
	// sign-in counts too.
	AuthFailures int           `yaml:"auth_failures"`
	AuthWindow   time.Duration `yaml:"auth_window"`
	AuthLockout  time.Duration `yaml:"auth_lockout"`
	// Lines are the merged numbers; empty: the demo city's.
	Lines []SIPLine `yaml:"lines"`
	// Agents are added to (or updated in) the store at start, so a small
	// centre can keep its agents in this file; `yihao agent add` is the
	// other way.
	Agents []SIPAgent `yaml:"agents"`
}

// SIPLine is one merged hotline number.
type SIPLine struct {
	Number string   `yaml:"number"`
	Label  string   `yaml:"label"`
	Skills []string `yaml:"skills"`
	Domain string   `yaml:"domain"`
}

// SIPAgent is an agent's account as the configuration file gives it.
type SIPAgent struct {
	Ext      string   `yaml:"ext"`
	Name     string   `yaml:"name"`
	Password string   `yaml:"password"`
	Skills   []string `yaml:"skills"`
}

// SecureCookies says whether staff cookies (desks and agent page) carry
// the Secure flag: as configured, else yes unless insecure_cookies.
func (c Config) SecureCookies() bool {
	if c.CookieSecure != nil {
		return *c.CookieSecure
	}
	return !c.InsecureCookies
}

// demoLines are the demo city's merged numbers.
func demoLines() []SIPLine {
	return []SIPLine{
		{Number: "12345", Label: "12345 政务服务便民热线"},
		{Number: "12319", Label: "12319 城建服务热线", Domain: "01"},
		{Number: "96310", Label: "96310 交通服务热线", Domain: "06"},
		{Number: "12315", Label: "12315 消费者投诉举报热线"},
	}
}

func defaultConfig() Config {
	return Config{HTTPAddr: ":8080", DataDir: "./data", RedisPrefix: "yihao:", RateLimit: 30, RateBurst: 10, IntakeInFlight: 32, IntakeWait: 5 * time.Millisecond, LogLevel: "info", Open311Base: "/open311/v2", ShutdownTimeout: 30 * time.Second, ReloadInterval: 10 * time.Second,
		SIP: SIPConfig{Realm: "yihao", Addr: ":5060", Mode: "proxy", Strategy: "longest_idle", QueueWait: 30 * time.Second,
			RingTimeout: 20 * time.Second, DefaultCountry: "86", RateLimit: 60, RateBurst: 20}}
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
	str("YIHAO_KB_SEED", &cfg.KnowledgeSeed)
	str("YIHAO_KB_SYNONYMS", &cfg.KnowledgeSynonyms)
	str("YIHAO_LOG_LEVEL", &cfg.LogLevel)
	str("YIHAO_DEBUG_ADDR", &cfg.DebugAddr)
	str("YIHAO_METRICS_TOKEN", &cfg.MetricsToken)
	str("YIHAO_OPEN311_BASE", &cfg.Open311Base)
	str("YIHAO_OPEN311_JURISDICTION", &cfg.Open311Jurisdiction)
	str("YIHAO_WECHAT_APP_ID", &cfg.WeChat.AppID)
	str("YIHAO_WECHAT_APP_SECRET", &cfg.WeChat.AppSecret)
	str("YIHAO_WECHAT_TOKEN", &cfg.WeChat.Token)
	str("YIHAO_WECHAT_AES_KEY", &cfg.WeChat.AESKey)
	str("YIHAO_WECHAT_API_BASE", &cfg.WeChat.APIBase)
	str("YIHAO_SIP_ADDR", &cfg.SIP.Addr)
	str("YIHAO_SIP_ADVERTISE", &cfg.SIP.Advertise)
	str("YIHAO_SIP_SECRET", &cfg.SIP.Secret)
	str("YIHAO_TRACK_KEY", &cfg.TrackKey)
	str("YIHAO_TEXTS_GATEWAY", &cfg.Texts.Gateway)
	str("YIHAO_TEXTS_HTTP_URL", &cfg.Texts.HTTPURL)
	str("YIHAO_TEXTS_HTTP_ACCOUNT", &cfg.Texts.HTTPAccount)
	str("YIHAO_TEXTS_HTTP_SECRET", &cfg.Texts.HTTPSecret)
	str("YIHAO_TEXTS_TRACK_URL", &cfg.Texts.TrackURL)
	list := func(name string, dst *[]string) {
		if v := getenv(name); v != "" {
			*dst = nil
			for _, f := range strings.Split(v, ",") {
				if f = strings.TrimSpace(f); f != "" {
					*dst = append(*dst, f)
				}
			}
		}
	}
	list("YIHAO_SIP_TRUNKS", &cfg.SIP.Trunks)
	list("YIHAO_SIP_GATEWAYS", &cfg.SIP.Gateways)
	for name, dst := range map[string]*int{"YIHAO_RATE_LIMIT": &cfg.RateLimit, "YIHAO_RATE_BURST": &cfg.RateBurst,
		"YIHAO_INTAKE_MAX_INFLIGHT": &cfg.IntakeInFlight,
		"YIHAO_SIP_RATE_LIMIT":      &cfg.SIP.RateLimit, "YIHAO_SIP_RATE_BURST": &cfg.SIP.RateBurst} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return cfg, fmt.Errorf("config: %s=%q is not a whole number ≥ 0", name, v)
			}
			*dst = n
		}
	}
	if v := getenv("YIHAO_INTAKE_MAX_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return cfg, fmt.Errorf("config: YIHAO_INTAKE_MAX_WAIT=%q is not a duration ≥ 0 (like 20ms)", v)
		}
		cfg.IntakeWait = d
	}
	if v := getenv("YIHAO_WECHAT_PLAINTEXT"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("config: YIHAO_WECHAT_PLAINTEXT=%q: use true or false", v)
		}
		cfg.WeChat.Plaintext = b
	}
	if v := getenv("YIHAO_COOKIE_SECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("config: YIHAO_COOKIE_SECURE=%q: use true or false", v)
		}
		cfg.CookieSecure = &b
	}
	if cfg.IntakeInFlight < 0 || cfg.IntakeWait < 0 {
		return cfg, fmt.Errorf("config: intake_max_inflight (%d) and intake_max_wait (%s) must not be negative; intake_max_inflight 0 admits every report", cfg.IntakeInFlight, cfg.IntakeWait)
	}
	if cfg.MetricsToken != "" && len(cfg.MetricsToken) < 16 {
		return cfg, fmt.Errorf("config: metrics token must be at least 16 characters")
	}
	if v := getenv("YIHAO_TRUSTED_PROXIES"); v != "" {
		cfg.TrustedProxies = strings.Split(v, ",")
	}
	if _, err := httpapi.ParseProxies(cfg.TrustedProxies); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if u := cfg.DatabaseURL; u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		return cfg, fmt.Errorf("config: database url must start with postgres:// (leave it empty for the embedded store)")
	}
	if len(cfg.SIP.Lines) == 0 {
		cfg.SIP.Lines = demoLines()
	}
	if err := cfg.Texts.check(cfg.SIP); err != nil {
		return cfg, err
	}
	if cfg.TrackKey != "" && len(cfg.TrackKey) < ticketing.MinTrackKey {
		return cfg, fmt.Errorf("config: track_key must be at least %d characters", ticketing.MinTrackKey)
	}
	switch cfg.SIP.Mode {
	case "proxy", "redirect":
	default:
		return cfg, fmt.Errorf("config: sip.mode %q; proxy or redirect", cfg.SIP.Mode)
	}
	switch cfg.SIP.Strategy {
	case "longest_idle", "round_robin":
	default:
		return cfg, fmt.Errorf("config: sip.strategy %q; longest_idle or round_robin", cfg.SIP.Strategy)
	}
	return cfg, nil
}
