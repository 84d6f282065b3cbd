package desks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/yihao-city/yihao/pubsub"
	"github.com/yihao-city/yihao/ticketing"
)

// TopicAll carries every ticket change, for dispatchers, admins and agents.
const TopicAll = "desk:all"

// DepartmentTopic carries the changes of one department's tickets, for its
// liaisons.
func DepartmentTopic(code string) string { return "desk:dept:" + code }

// AreaTopic carries the changes of the tickets in one district, street or
// community, for the dispatchers of its centre.
func AreaTopic(code string) string { return "desk:area:" + code }

// Change is what the desks hear of a ticket that changed: enough to know
// which rows to refresh, nothing personal.
type Change struct {
	Number     string           `json:"number"`
	Status     ticketing.Status `json:"status"`
	Department string           `json:"department,omitempty"`
}

// Publish tells the desks that t changed: on TopicAll and on the topics
// of its department and its assisting departments. Other components (channels, forwarders) call it
// after a change of theirs; a nil bus publishes nothing.
func Publish(ctx context.Context, bus pubsub.Bus, t *ticketing.Ticket) error {
	return publish(ctx, bus, t, "")
}

// publish is Publish that also tells the department the ticket was with
// before, if another: a re-dispatched ticket leaves its inbox.
func publish(ctx context.Context, bus pubsub.Bus, t *ticketing.Ticket, before string) error {
	if bus == nil {
		return nil
	}
	msgs, err := changeMessages(nil, t, before)
	if err != nil {
		return err
	}
	return pubsub.PublishAll(ctx, bus, msgs)
}

// changeMessages appends to msgs the messages that tell the desks t
// changed (see publish).
func changeMessages(msgs []pubsub.Message, t *ticketing.Ticket, before string) ([]pubsub.Message, error) {
	msg, err := json.Marshal(Change{Number: t.Number, Status: t.Status, Department: t.Department})
	if err != nil {
		return msgs, err
	}
	add := func(topic string) { msgs = append(msgs, pubsub.Message{Topic: topic, Data: msg}) }
	add(TopicAll)
	if t.Department != "" {
		add(DepartmentTopic(t.Department))
	}
	for _, d := range t.Assisting {
		// Assisting departments (协办) see the ticket too (ticketing.Viewer).
		if d != "" && d != t.Department {
			add(DepartmentTopic(d))
		}
	}
	if before != "" && before != t.Department {
		add(DepartmentTopic(before))
	}
	for _, code := range []string{t.Area.District, t.Area.Street, t.Area.Community} {
		if code != "" {
			add(AreaTopic(code))
		}
	}
	return msgs, nil
}

// heartbeat is how often the stream sends a comment (so proxies keep it
// open) and checks that its user may still listen.
const heartbeat = 15 * time.Second

// getEvents streams ticket changes as server-sent events ("event: ticket"):
// every change for dispatchers, admins and agents; a liaison's own
// department only. The user is checked again at every heartbeat, so a
// disabled user stops hearing within one.
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	st := staffFrom(r.Context())
	if s.bus == nil {
		s.fail(w, r, ticketing.Errorf(ticketing.KindUnavailable, "", "live events are not configured"))
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		s.fail(w, r, errors.New("response writer cannot stream"))
		return
	}
	topic := TopicAll
	switch {
	case st.Role == liaison:
		topic = DepartmentTopic(st.Department)
	case st.viewer().Local():
		topic = AreaTopic(st.Area)
	}
	msgs, cancel, err := s.bus.Subscribe(r.Context(), topic)
	if err != nil {
		s.fail(w, r, ticketing.Unavailable(err))
		return
	}
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": listening\n\n")
	fl.Flush()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			// One data line per line of the message: a newline inside
			// would otherwise end the event early.
			var b bytes.Buffer
			b.WriteString("event: ticket\n")
			for line := range bytes.SplitSeq(bytes.TrimSpace(m), []byte("\n")) {
				b.WriteString("data: ")
				b.Write(bytes.TrimRight(line, "\r"))
				b.WriteString("\n")
			}
			b.WriteString("\n")
			if _, err := w.Write(b.Bytes()); err != nil {
				return
			}
			fl.Flush()
		case <-beat.C:
			if now, err := s.authenticate(discard{}, r); err != nil || now == nil || now.Role != st.Role || now.Department != st.Department ||
				now.Area != st.Area {
				return
			}
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// discard is a ResponseWriter for re-checking a session mid-stream, where
// no cookie can be set any more.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
