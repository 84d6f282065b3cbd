package ticketing

import (
	"context"
	"errors"
)

// DefaultAlarmLimit is how many due alarms Store.Alarms returns when
// asked for none in particular.
const DefaultAlarmLimit = 100

// errNothingDue: the ticket's alarm is no longer due (another instance
// escalated it meanwhile); Escalate rolls the update back and moves on.
var errNothingDue = errors.New("ticketing: alarm no longer due")

// Escalate is the deadline scanner: it turns the lights of up to limit
// tickets whose alarm is due (Store.Alarms; limit <= 0: DefaultAlarmLimit)
// yellow (黄灯预警) or red (红灯, 超期), one transaction each, and queues a
// "ticket.escalated" message for every ticket it changed; it returns how
// many. It runs on every instance, as often as it likes: Store.Update
// locks the ticket and Ticket.Escalate decides on what it reads under the
// lock, so two instances never record the same light twice. An error on
// one ticket is logged and the scan goes on; the first is returned.
func (s *Service) Escalate(ctx context.Context, limit int) (int, error) {
	now := s.now()
	ids, err := s.store.Alarms(ctx, now, limit)
	if err != nil {
		return 0, err
	}
	changed := 0
	var first error
	for _, id := range ids {
		escalated := false
		_, err := s.store.Update(ctx, id, func(t *Ticket) error {
			before := t.AlarmAt
			if t.Escalate(now) {
				escalated = true
				t.Enqueue("ticket.escalated", messagePayload(t, ""), now)
				return nil
			}
			if !t.AlarmAt.Equal(before) {
				return nil // the alarm moved or was cleared: save that
			}
			return errNothingDue
		})
		switch {
		case err == nil && escalated:
			changed++
		case err == nil, errors.Is(err, errNothingDue):
		default:
			s.log.Warn("deadline escalation failed", "ticket", id, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return changed, first
}
