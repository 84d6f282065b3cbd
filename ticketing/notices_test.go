package ticketing_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// TestTrackCode: the code an SMS carries opens the tracking page beside
// the report's own token; another ticket's code, or a code from another
// key, does not, and without a key there are no codes.
func TestTrackCode(t *testing.T) {
	key := []byte(strings.Repeat("k", ticketing.MinTrackKey))
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := ticketing.NewService(st, previewRouter{}, ticketing.WithTrackKey(key))
	ctx := context.Background()
	a, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: "a", Text: "路灯不亮", ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelPhone, ExternalID: "b", Text: "井盖丢了", ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	code := svc.TrackCode(a.Number)
	if len(code) != 16 || code != ticketing.TrackCode(key, a.Number) {
		t.Fatalf("TrackCode = %q", code)
	}
	if _, _, err := svc.Track(ctx, a.Number, code); err != nil {
		t.Errorf("Track with the code: %v", err)
	}
	if _, _, err := svc.Track(ctx, a.Number, a.TrackToken); err != nil {
		t.Errorf("Track with the token: %v", err)
	}
	if _, _, err := svc.Track(ctx, b.Number, code); err == nil {
		t.Error("a's code opened b")
	}
	other := ticketing.TrackCode([]byte(strings.Repeat("x", ticketing.MinTrackKey)), a.Number)
	if _, _, err := svc.Track(ctx, a.Number, other); err == nil {
		t.Error("another key's code opened a")
	}
	if keyless := ticketing.NewService(st, previewRouter{}); keyless.TrackCode(a.Number) != "" {
		t.Error("a service without a key made a code")
	} else if _, _, err := keyless.Track(ctx, a.Number, code); err == nil {
		t.Error("a service without a key took a code")
	}
}
