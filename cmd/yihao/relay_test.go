package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/yihao-city/yihao/desks"
	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// The desks' relay reads the outbox as a feed; a delivery endpoint of its
// old name, registered again by an older instance during an upgrade, is
// removed when the server starts, so no deliveries pile up unread for it.
func TestServeRemovesTheRelaysOldEndpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RegisterEndpoint(ctx, desks.RelayFeed, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	srv := e2eStart(ctx, t, map[string]string{"YIHAO_DATA_DIR": dir})
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	st, err = sqlite.Open(ctx, filepath.Join(dir, "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A ticket written now makes a delivery for every endpoint still registered.
	svc := ticketing.NewService(st, waits{})
	if _, _, err := svc.Submit(ctx, ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: "after-upgrade", Text: "路灯不亮"}); err != nil {
		t.Fatal(err)
	}
	stats, err := st.DeliveryStats(ctx, desks.RelayFeed)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Pending != 0 {
		t.Errorf("%d deliveries pending for %q after the server started", stats.Pending, desks.RelayFeed)
	}
}

// waits routes nothing: every report waits for a dispatcher.
type waits struct{}

func (waits) Route(context.Context, ticketing.Report) (ticketing.Assignment, error) {
	return ticketing.Assignment{Priority: ticketing.PriorityNormal}, nil
}
