// Package wechat is the inbound side of Yihao's WeChat official account
// (公众号) door: the server URL that WeChat's servers push citizens'
// messages and events to (消息推送), an http.Handler mounted on the one
// HTTP engine (Register).
//
// # Protocol
//
// GET is WeChat's check of the server URL: signature =
// sha1(sort(Token, timestamp, nonce)) and the answer is echostr.
//
// POST is one push. signature and timestamp are checked on every push;
// a timestamp more than ReplayWindow from now, either side, is refused.
// In plaintext mode each signed URL (timestamp and nonce) is remembered
// with its body's digest until its timestamp leaves the window: the same
// URL with another body is refused with 403 (WeChat's retries repeat the
// body). In safe mode (安全模式, encrypt_type=aes) the body is
// <xml><ToUserName/><Encrypt/></xml> (in compatible mode the message's
// plaintext fields too, which are not read); msg_signature =
// sha1(sort(Token, timestamp, nonce, Encrypt)) is checked, which binds
// the URL to its message already, Encrypt is decrypted with AESKey and
// must carry our AppID, and a reply is encrypted and signed the same way.
// Signatures are compared in constant time.
//
// # Mode
//
// Plaintext mode must be chosen (Plaintext): a server with neither an
// AESKey nor Plaintext does not start. The mode is the server's, never the
// request's: with an AESKey only
// encrypted pushes (encrypt_type=aes) are taken and plaintext ones
// (encrypt_type absent or raw) are refused with 403; without one, only
// plaintext pushes are taken and encrypted ones are refused with 403. A
// plaintext push's body is covered by no signature (signature signs the
// query only), so accepting plaintext beside safe mode would let anyone
// who saw one signed URL post any message within the replay window. The
// console's compatible mode (兼容模式) sends encrypt_type=aes, so the way
// from plaintext to safe mode is: switch the console to compatible mode,
// then set AESKey here, then switch the console to safe mode.
//
// # Answers
//
//	200 reply XML, or "success"  the handler took the message
//	400  malformed XML, or a push without ToUserName, FromUserName or MsgType
//	403  bad signature or msg_signature, stale timestamp, wrong mode, a
//	     signed URL replayed with another body, or a ciphertext that does
//	     not decrypt to our AppID
//	405  a method other than GET and POST
//	413  a body over MaxBodyBytes (refused before it is read whole)
//	503  the handler failed or did not return within HandlerTimeout
//
// WeChat gives a push 5 seconds and retries it (three tries in all) when it
// gets no answer or an error, so "success" is answered only after the
// handler has stored the message, and a handler that is too slow gets 503:
// its push comes back and the handler deduplicates it with
// Inbound.DedupKey. Unknown MsgTypes and events reach the handler, which
// decides what to do with them.
//
// # Privacy
//
// Nothing logged above debug level contains the body, the OpenID or the
// message's words; refusals log their reason only.
package wechat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/silenceper/wechat/v2/util"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/ticketing"
)

// Defaults of ServerConfig.
const (
	DefaultReplayWindow   = 5 * time.Minute
	DefaultMaxBodyBytes   = 64 << 10
	DefaultHandlerTimeout = 4500 * time.Millisecond
)

// ServerConfig is the account's server settings (服务器配置) as entered in
// the official account's console.
type ServerConfig struct {
	// AppID is the account's AppID; safe mode checks it inside every
	// ciphertext. Required with AESKey.
	AppID string
	// Token signs every request. Required.
	Token string
	// AESKey is the EncodingAESKey: 43 characters of base64. Set, safe or
	// compatible mode; empty, plaintext mode (明文模式), which needs
	// Plaintext as well.
	AESKey string
	// Plaintext allows plaintext mode when there is no AESKey. A plaintext
	// push's body is signed by nothing, so plaintext is never the default:
	// without an AESKey and without Plaintext, NewServer refuses to start.
	Plaintext bool
	// Nonces remembers each plaintext push's signed URL for the replay
	// window, so a URL seen once cannot carry another body (in safe mode
	// msg_signature does that); default an in-process MemoryNonces
	// (several instances share redis.Nonces).
	Nonces Nonces
	// ReplayWindow is how far a request's timestamp may be from now, either
	// side; default 5 minutes.
	ReplayWindow time.Duration
	// MaxBodyBytes caps a push's body; default 64 KiB.
	MaxBodyBytes int64
	// HandlerTimeout is how long a push may take, from its arrival to the
	// handler's return; default 4.5 s, inside WeChat's 5.
	HandlerTimeout time.Duration
	// Now is the clock for timestamps; default time.Now.
	Now func() time.Time
}

// Handler handles one authenticated, decrypted push. It returns the
// passive reply, or nil for none. An error means the message could not be
// stored: the server answers 503 so that WeChat pushes it again (it is
// never told "success" before the message is kept). A message that is
// stored but refused, or not understood, is no error: answer it with a
// Reply or nil. ctx ends HandlerTimeout after the push arrived; it is not
// canceled when WeChat hangs up, so a store under way can finish.
type Handler func(ctx context.Context, m *Inbound) (*Reply, error)

// Server is the account's server URL: an http.Handler.
type Server struct {
	cfg ServerConfig
	h   Handler
	log *slog.Logger
	// local stands in for a shared Nonces that cannot be reached (Redis
	// away): pushes are still taken, and a replay to this instance is still
	// refused. Nil when cfg.Nonces is in-process already.
	local *MemoryNonces
}

// NewServer checks cfg, fills in its defaults and returns the server.
// log may be nil.
func NewServer(cfg ServerConfig, h Handler, log *slog.Logger) (*Server, error) {
	if cfg.Token == "" {
		return nil, errors.New("wechat: Token is required")
	}
	if cfg.AESKey == "" && !cfg.Plaintext {
		return nil, errors.New("wechat: no EncodingAESKey: set it for safe mode (recommended), " +
			"or allow plaintext mode explicitly, in which anyone who sees one signed push URL can post as any citizen for the replay window")
	}
	if cfg.AESKey != "" {
		if len(cfg.AESKey) != 43 {
			return nil, fmt.Errorf("wechat: AESKey must be 43 characters, not %d", len(cfg.AESKey))
		}
		if k, err := base64.StdEncoding.DecodeString(cfg.AESKey + "="); err != nil || len(k) != 32 {
			return nil, errors.New("wechat: AESKey is not base64 of 32 bytes")
		}
		if cfg.AppID == "" {
			return nil, errors.New("wechat: AppID is required with AESKey")
		}
	}
	if h == nil {
		return nil, errors.New("wechat: handler is required")
	}
	if cfg.ReplayWindow < 0 || cfg.MaxBodyBytes < 0 || cfg.HandlerTimeout < 0 {
		return nil, errors.New("wechat: ReplayWindow, MaxBodyBytes and HandlerTimeout must not be negative")
	}
	if cfg.ReplayWindow == 0 {
		cfg.ReplayWindow = DefaultReplayWindow
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.HandlerTimeout == 0 {
		cfg.HandlerTimeout = DefaultHandlerTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var local *MemoryNonces
	if cfg.Nonces == nil {
		cfg.Nonces = NewMemoryNonces(0, cfg.Now)
	} else if _, ok := cfg.Nonces.(*MemoryNonces); !ok {
		local = NewMemoryNonces(0, cfg.Now)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, h: h, log: log, local: local}, nil
}

// Register mounts the server at path on e. Every method, invented ones
// too, reaches it: it answers 405 with Allow itself.
func (s *Server) Register(e *httpapi.Engine, path string) {
	httpapi.Handle(e, path, s)
	e.Fallback(path, gin.WrapH(s))
}

// ServeHTTP answers WeChat's URL check (GET) and pushes (POST).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.serveCheck(w, r)
	case http.MethodPost:
		s.servePush(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		s.refuse(w, r, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// serveCheck answers the URL check: echostr back when signed.
func (s *Server) serveCheck(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if reason := s.checkQuery(q.Get("signature"), q.Get("timestamp"), q.Get("nonce")); reason != "" {
		s.refuse(w, r, http.StatusForbidden, reason)
		return
	}
	echo := q.Get("echostr")
	if echo == "" {
		s.refuse(w, r, http.StatusBadRequest, "no echostr")
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "wechat URL check passed")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, echo)
}

func (s *Server) servePush(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.HandlerTimeout)
	defer cancel()

	q := r.URL.Query()
	timestamp, nonce := q.Get("timestamp"), q.Get("nonce")
	if reason := s.checkQuery(q.Get("signature"), timestamp, nonce); reason != "" {
		s.refuse(w, r, http.StatusForbidden, reason)
		return
	}
	var encrypted bool
	switch q.Get("encrypt_type") {
	case "", "raw":
		if s.cfg.AESKey != "" {
			s.refuse(w, r, http.StatusForbidden, "plaintext push to a server in safe mode")
			return
		}
	case "aes":
		if s.cfg.AESKey == "" {
			s.refuse(w, r, http.StatusForbidden, "encrypted push to a server in plaintext mode")
			return
		}
		encrypted = true
	default:
		s.refuse(w, r, http.StatusBadRequest, "unknown encrypt_type")
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.refuse(w, r, http.StatusRequestEntityTooLarge, "body too large")
		} else {
			s.refuse(w, r, http.StatusBadRequest, "body not read")
		}
		return
	}

	// A plaintext push's URL is good for one body: a second use with
	// another body is a replay (WeChat's own retries repeat theirs). In
	// safe mode msg_signature signs the body's Encrypt, all that is read
	// of it, with the URL, so another body fails that check instead, and
	// no round trip to the shared nonces is needed.
	if !encrypted {
		if ok, err := s.fresh(ctx, timestamp, nonce, body); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "wechat push refused: nonces unavailable", slog.Any("err", err))
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		} else if !ok {
			s.refuse(w, r, http.StatusForbidden, "signed URL replayed with another body")
			return
		}
	}

	plain := body
	if encrypted {
		env, err := parseEnvelope(body)
		if err != nil {
			s.refuse(w, r, http.StatusBadRequest, "malformed envelope")
			return
		}
		if !signed(q.Get("msg_signature"), s.cfg.Token, timestamp, nonce, env.Encrypt) {
			s.refuse(w, r, http.StatusForbidden, "bad msg_signature")
			return
		}
		// A ciphertext that does not decrypt (wrong key) or carries another
		// AppID was not meant for this account: refused alike.
		_, plain, err = util.DecryptMsg(s.cfg.AppID, env.Encrypt, s.cfg.AESKey)
		if err != nil {
			s.refuse(w, r, http.StatusForbidden, "ciphertext not for this account")
			return
		}
	}
	m, err := parseInbound(plain)
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, "malformed message")
		return
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "wechat push",
		slog.String("msg_type", m.MsgType), slog.String("event", m.Event),
		slog.String("openid", m.FromUserName), slog.Int64("msg_id", m.MsgID))

	reply, err := s.handle(ctx, m)
	if errors.Is(err, ticketing.ErrBusy) {
		http.Error(w, "busy", http.StatusServiceUnavailable) // WeChat retries; counted, not logged
		return
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "wechat push not stored; WeChat will retry",
			slog.String("msg_type", m.MsgType), slog.Any("err", err))
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	s.answer(w, r, m, reply, encrypted)
}

// handle runs the handler until ctx ends. A handler that ignores ctx keeps
// running after the answer (503) and its result is dropped; WeChat's retry
// of the same push is then the handler's to deduplicate.
func (s *Server) handle(ctx context.Context, m *Inbound) (*Reply, error) {
	type result struct {
		reply *Reply
		err   error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("wechat: handler panicked: %v", p)}
			}
		}()
		reply, err := s.h(ctx, m)
		done <- result{reply, err}
	}()
	select {
	case res := <-done:
		return res.reply, res.err
	case <-ctx.Done():
		select {
		case res := <-done: // finished at the same moment
			return res.reply, res.err
		default:
			return nil, fmt.Errorf("wechat: handler did not return in time: %w", ctx.Err())
		}
	}
}

// answer writes the reply, or "success". The message is stored by now: a
// reply that cannot be encoded is logged and answered with "success", so
// that WeChat does not push the message again.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, m *Inbound, reply *Reply, encrypted bool) {
	if reply == nil {
		writeSuccess(w)
		return
	}
	now := s.cfg.Now()
	out, err := reply.encode(m, now)
	if err == nil && encrypted {
		out, err = s.seal(out, now)
	}
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "wechat reply not encoded; answered success", slog.Any("err", err))
		writeSuccess(w)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	_, _ = w.Write(out)
}

// seal encrypts a reply for safe mode and signs it.
func (s *Server) seal(plain []byte, now time.Time) ([]byte, error) {
	random := make([]byte, 16)
	_, _ = rand.Read(random)
	enc, err := util.EncryptMsg(random, plain, s.cfg.AppID, s.cfg.AESKey)
	if err != nil {
		return nil, err
	}
	ts := now.Unix()
	nonce := rand.Text()
	b := make([]byte, 0, 160+len(enc))
	b = append(b, "<xml>"...)
	b = appendCDATA(b, "Encrypt", string(enc))
	b = appendCDATA(b, "MsgSignature", util.Signature(s.cfg.Token, strconv.FormatInt(ts, 10), nonce, string(enc)))
	b = appendInt(b, "TimeStamp", ts)
	b = appendCDATA(b, "Nonce", nonce)
	return append(b, "</xml>"...), nil
}

// fresh records the push's timestamp and nonce with a digest of its body
// until its timestamp leaves the replay window, and says whether it may go
// on (see Nonces).
func (s *Server) fresh(ctx context.Context, timestamp, nonce string, body []byte) (bool, error) {
	ts, _ := strconv.ParseInt(timestamp, 10, 64) // checkQuery parsed it
	ttl := time.Unix(ts, 0).Add(s.cfg.ReplayWindow).Sub(s.cfg.Now()) + time.Second
	sum := sha256.Sum256(body)
	key, digest := timestamp+":"+nonce, hex.EncodeToString(sum[:16])
	ok, err := s.cfg.Nonces.Remember(ctx, key, digest, ttl)
	if err != nil && s.local != nil {
		// A citizen's report outweighs a replay another instance might
		// take while the shared store is away: this instance remembers.
		s.log.LogAttrs(ctx, slog.LevelWarn, "wechat: shared nonces unavailable; remembering in this instance", slog.Any("err", err))
		return s.local.Remember(ctx, key, digest, ttl)
	}
	return ok, err
}

// checkQuery checks signature and timestamp; it returns why they fail, or
// "".
func (s *Server) checkQuery(signature, timestamp, nonce string) string {
	if signature == "" || timestamp == "" || nonce == "" {
		return "signature, timestamp or nonce missing"
	}
	if !signed(signature, s.cfg.Token, timestamp, nonce) {
		return "bad signature"
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return "timestamp not a number"
	}
	if s.cfg.Now().Sub(time.Unix(ts, 0)).Abs() > s.cfg.ReplayWindow {
		return "timestamp outside the replay window"
	}
	return ""
}

// signed says, in constant time, whether got is sha1(sort(parts)) in hex.
func signed(got string, parts ...string) bool {
	want := util.Signature(parts...)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, reason string) {
	level := slog.LevelInfo
	if status == http.StatusForbidden {
		level = slog.LevelWarn
	}
	s.log.LogAttrs(r.Context(), level, "wechat request refused",
		slog.Int("status", status), slog.String("reason", reason), slog.String("remote", httpapi.ClientAddr(r)))
	http.Error(w, http.StatusText(status), status)
}

func writeSuccess(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "success")
}
