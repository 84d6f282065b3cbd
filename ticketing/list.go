package ticketing

import "time"

// ListFilter selects tickets for a listing (Open311 GET requests). Every
// field that is set must hold. With Numbers set the time window is usually
// left zero: a client asking for given tickets wants them whenever they came.
type ListFilter struct {
	Numbers    []string   // public ticket numbers
	Categories []string   // category codes
	OpenID     string     // the WeChat citizen who reported it
	Phones     []string   // reporter phone equals any of these (as stored; an empty one matches nothing)
	Open       *bool      // true: Status.Open(); false: finished (closed, declined, answered, merged)
	Channel    Channel    // only tickets that came through this door
	Level      PlaceLevel // with Place: only tickets in this cell or community
	Place      string
	From, To   time.Time // received in [From, To); zero leaves that side open
	Limit      int       // at most this many, oldest first (newest with Newest); 0 means 1000
	// Newest lists newest first, so that Limit keeps the latest: what a
	// caller's or a citizen's recent tickets are, however many came before.
	Newest bool
}

// EventFilter selects events of every ticket by time (Open311
// servicerequestupdates).
type EventFilter struct {
	From, To   time.Time // at in [From, To)
	Channel    Channel   // only events of tickets that came through this door
	PublicOnly bool      // only events a citizen may see (Public != "")
	// SkipTypes and SkipActorPrefix leave events out in the query itself,
	// so the limit counts only what the caller will show.
	SkipTypes       []EventType
	SkipActorPrefix string
	Limit           int // at most this many, oldest first; 0 means 1000
}

// NumberedEvent is an event with the public number of its ticket.
type NumberedEvent struct {
	Number string
	Event
}

// DefaultListLimit is what a zero Limit means.
const DefaultListLimit = 1000

// OpenStatuses and FinishedStatuses split Statuses by Status.Open.
func OpenStatuses() (open, finished []Status) {
	for _, s := range Statuses {
		if s.Open() {
			open = append(open, s)
		} else {
			finished = append(finished, s)
		}
	}
	return open, finished
}
