package desks_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/desks"
	"github.com/yihao-city/yihao/redis"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/postgres"
	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
)

// Two instances behind nothing but one PostgreSQL and one Redis, each
// with its own connections, service, desks and relay: a liaison whose
// browser listens on instance B hears of a dispatch made on instance A's
// desk, and of a report taken on A by another door (no desk involved)
// that routing dispatched to the liaison's department.
func TestLiveAcrossInstances(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	redisURL := os.Getenv("YIHAO_TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	schema := pgtest.SchemaURL(t)
	prefix := "yihao-test:" + rand.Text() + ":live:"
	instance := func() *env {
		st, err := postgres.Open(ctx, schema)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		rdb, err := redis.Connect(ctx, redisURL)
		if err != nil {
			t.Fatalf("Redis at %s is not reachable (set YIHAO_TEST_REDIS_URL): %v", redisURL, err)
		}
		t.Cleanup(func() { rdb.Close() })
		bus := redis.NewBus(rdb, prefix)
		e := (&env{store: st}).serve(t, bus)
		relay := desks.NewRelay(st, bus, nil)
		if err := relay.Register(ctx); err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { relay.Run(rctx); close(done) }()
		t.Cleanup(func() { stop(); <-done })
		return e
	}
	a, b := instance(), instance()

	li := b.login(t, "li.jt")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.srv.URL+"/desk/events", nil)
	req.AddCookie(li.session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	stream := bufio.NewReader(resp.Body)
	if l, _ := stream.ReadString('\n'); !strings.HasPrefix(l, ":") {
		t.Fatalf("first line %q", l)
	}
	// next returns the data of the next ticket event on the stream.
	next := func() string {
		t.Helper()
		for {
			l, err := stream.ReadString('\n')
			if err != nil {
				t.Fatalf("event stream on B: %v", err)
			}
			if d, ok := strings.CutPrefix(l, "data: "); ok {
				return strings.TrimSpace(d)
			}
		}
	}

	// A dispatch on A's desk.
	triage := a.submit(t, "", "人民路井盖松动")
	a.login(t, "disp").act(t, triage.Number, "dispatch", url.Values{"category": {"roads"}})
	want := `{"number":"` + triage.Number + `","status":"dispatched","department":"jt"}`
	if got := next(); got != want {
		t.Fatalf("B heard %s, want %s", got, want)
	}

	// A report taken on A by another door, dispatched by routing at once:
	// only the outbox relay can tell B. (The dispatch above may be heard
	// twice, from the desk and from the relay: skip repeats.)
	direct, _, err := a.svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: "cluster-1",
		Category: "roads", Text: "解放路路面塌陷"})
	if err != nil {
		t.Fatal(err)
	}
	want = `{"number":"` + direct.Number + `","status":"dispatched","department":"jt"}`
	for {
		got := next()
		if got == want {
			break
		}
		if !strings.Contains(got, triage.Number) {
			t.Fatalf("B heard %s, want %s", got, want)
		}
	}
}
