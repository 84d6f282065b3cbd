package ticketing_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// heldRouter routes nothing until released, holding its reports' slots.
type heldRouter struct {
	routing chan struct{}
	release chan struct{}
}

func (h heldRouter) Route(ctx context.Context, _ ticketing.Report) (ticketing.Assignment, error) {
	h.routing <- struct{}{}
	<-h.release
	return ticketing.Assignment{Priority: ticketing.PriorityNormal}, nil
}

// At capacity a report waits its turn only so long, then is refused as
// busy, having changed nothing; the ones admitted are stored, and so is
// the refused one sent again once there is room.
func TestAdmissionSheds(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "yihao.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := heldRouter{routing: make(chan struct{}), release: make(chan struct{})}
	svc := ticketing.NewService(st, r, ticketing.WithAdmission(2, 20*time.Millisecond))
	report := func(key string) ticketing.Report {
		return ticketing.Report{Channel: ticketing.ChannelWeb, ExternalID: key, Text: "路灯不亮 " + key}
	}

	var wg sync.WaitGroup
	for _, key := range []string{"a", "b"} {
		wg.Go(func() {
			if _, _, err := svc.Submit(ctx, report(key)); err != nil {
				t.Errorf("admitted report %s: %v", key, err)
			}
		})
		<-r.routing // in, holding a slot
	}
	_, _, err = svc.Submit(ctx, report("c"))
	if !errors.Is(err, ticketing.ErrBusy) || ticketing.KindOf(err) != ticketing.KindUnavailable {
		t.Fatalf("a third report at once: err = %v, want busy", err)
	}
	if _, err := st.ByExternalID(ctx, ticketing.ChannelWeb, "c"); !errors.Is(err, ticketing.ErrNotFound) {
		t.Errorf("the refused report was stored: %v", err)
	}
	// An agent's ticket for the call they are on is let in all the same.
	wg.Go(func() {
		if _, created, err := svc.Submit(ticketing.Staffed(ctx), report("agent")); err != nil || !created {
			t.Errorf("an agent's report at capacity: created=%v err=%v", created, err)
		}
	})
	<-r.routing // in, though every slot is taken
	close(r.release)
	wg.Wait()
	go func() {
		for range r.routing {
		}
	}()
	if _, created, err := svc.Submit(ctx, report("c")); err != nil || !created {
		t.Errorf("the refused report sent again: created=%v err=%v", created, err)
	}
	if n := svc.Shed(); n != 1 {
		t.Errorf("Shed = %d, want 1", n)
	}
	close(r.routing)
}
