package main

import (
	"context"
	"fmt"
	"time"

	"github.com/yihao-city/yihao/channels/wechat"
	"github.com/yihao-city/yihao/limit"
	"github.com/yihao-city/yihao/redis"
	"github.com/yihao-city/yihao/ticketing"
)

// startWeChat wires the official account's message server onto the engine, if a
// token is configured. With Redis, dedup, conversations and the access
// token are shared by every instance WeChat may push to.
func (a *app) startWeChat(ctx context.Context) (*wechat.Channel, error) {
	cfg, store, svc, photos, rdb, log, mux := a.cfg, a.store, a.svc, a.photos, a.rdb, a.log, a.engine
	wc := cfg.WeChat
	if wc.Token == "" {
		return nil, nil
	}
	if wc.AESKey == "" && !wc.Plaintext {
		return nil, fmt.Errorf("config: wechat has a token but no aes_key (YIHAO_WECHAT_AES_KEY): set the account's EncodingAESKey " +
			"for safe mode, or accept plaintext mode, whose message bodies nobody signs, with plaintext: true (YIHAO_WECHAT_PLAINTEXT=true)")
	}
	var (
		seen    wechat.Dedup
		nonces  wechat.Nonces
		convs   wechat.Conversations
		ratings wechat.Conversations
		tokens  wechat.TokenCache
	)
	// WeChat retries a push three times within some 15 s; ten minutes
	// covers a retry held up anywhere. Each MsgId keeps its reply (some
	// 220 bytes in memory): at 100 pushes a second an hour filled the
	// in-process store to its bound, 262,144 (58 MB); ten minutes hold
	// 60,000 to 120,000 (it sweeps once a window): 13 to 26 MB.
	const dedupFor = 10 * time.Minute
	if rdb != nil {
		seen = redis.NewSeen(a.rcmd, cfg.RedisPrefix+"wechat:seen:", dedupFor)
		nonces = redis.NewNonces(a.rcmd, cfg.RedisPrefix+"wechat:nonce:")
		convs = redis.NewConversations(a.rcmd, cfg.RedisPrefix+"wechat:conv:")
		ratings = redis.NewConversations(a.rcmd, cfg.RedisPrefix+"wechat:rating:")
		tokens = redis.NewTokenCache(a.rcmd, cfg.RedisPrefix+"wechat:token")
	} else {
		seen = wechat.NewMemorySeen(dedupFor, nil)
		nonces = wechat.NewMemoryNonces(0, nil)
		convs = wechat.NewMemoryConversations(nil)
		ratings = wechat.NewMemoryConversations(nil)
		tokens = &wechat.MemoryTokenCache{}
	}
	var (
		src  wechat.MediaSource
		send wechat.Sender // a reply that missed its push goes by customer-service message
	)
	if wc.AppID != "" && wc.AppSecret != "" {
		api, err := wechat.NewAPI(wechat.APIConfig{AppID: wc.AppID, AppSecret: wc.AppSecret, Base: wc.APIBase}, tokens, log)
		if err != nil {
			return nil, err
		}
		src, send = api, api
		// Notices go out from the outbox: registered before the first
		// report, so no change misses them.
		if ds, ok := store.(ticketing.DeliveryStore); ok {
			n := wechat.NewNotifier(wechat.NotifyConfig{DispatchedTemplate: wc.DispatchedTemplate, FinishedTemplate: wc.FinishedTemplate,
				Subscribe: wc.Subscribe, TrackURL: wc.TrackURL}, ds, store, api, ratings, log)
			if err := n.Register(ctx); err != nil {
				return nil, err
			}
			go n.Run(ctx)
		}
	} else {
		log.Warn("wechat: no app_id/app_secret: photos are not fetched and no notices are sent")
	}
	// A citizen types a few messages a minute; 20 with a burst of 10 leaves
	// room for a photo series and stops a script.
	// With several instances the limit is shared through Redis, asked only
	// past a citizen's first three messages at once (then one every 20 s)
	// at each instance: so a flood gets at most that much more than the 20.
	perMinute := limit.PerMinute(20, 10)
	var perCitizen wechat.Limiter = limit.NewLocal(perMinute)
	if rdb != nil {
		perCitizen = limit.NewLocalFirst(limit.PerMinute(3, 2),
			redis.NewLimiter(a.rcmd, cfg.RedisPrefix+"wechat:rate:", perMinute), perMinute)
	}
	ch := wechat.NewChannel(wechat.ChannelConfig{Window: wc.ConversationWindow, AnswerScore: wc.AnswerScore, ReportKey: wc.ReportKey, MyTicketsKey: wc.MyTicketsKey,
		Limiter: perCitizen, Sender: send},
		wechat.ChannelParts{Tickets: svc, Finder: store, Seen: seen, Conversations: convs, Ratings: ratings,
			Media: src, Photos: photos, Log: log, Knowledge: a.kb, Misses: a.store})
	srv, err := wechat.NewServer(wechat.ServerConfig{AppID: wc.AppID, Token: wc.Token, AESKey: wc.AESKey, ReplayWindow: wc.ReplayWindow,
		Plaintext: wc.Plaintext, Nonces: nonces},
		ch.Handle, log)
	if err != nil {
		return nil, fmt.Errorf("config: wechat: %w", err)
	}
	path := wc.Path
	if path == "" {
		path = "/wechat"
	}
	srv.Register(mux, path)
	mode := "plaintext"
	if wc.AESKey != "" {
		mode = "safe (AES)"
	} else {
		log.Warn("WECHAT PLAINTEXT MODE: pushes are signed in their URL only and their bodies are not; " +
			"a leaked push URL lets anyone post as any citizen until its timestamp expires (each URL is taken once). " +
			"Set YIHAO_WECHAT_AES_KEY (safe mode) for a real account")
	}
	log.Info("wechat message server", "path", path, "mode", mode)
	return ch, nil
}
