package ticketing

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"time"
)

// EventNotified records a notice that left for the citizen (an SMS the
// gateway accepted), with the masked address and what it said, so the
// desks see who was told what and when (回访留痕).
const EventNotified EventType = "notified"

// OptOutStore keeps the citizens who asked for no more notices at an
// address (退订, by replying TD): whatever the ticket, nothing more is sent
// there. Every Store in this module implements it.
type OptOutStore interface {
	// OptOut records that address wants no notices, said through via ("sms");
	// opting out again keeps the first record.
	OptOut(ctx context.Context, address, via string, at time.Time) error
	// OptIn takes an opt-out back (the citizen asked the centre to).
	OptIn(ctx context.Context, address string) error
	// OptedOut reports whether address opted out.
	OptedOut(ctx context.Context, address string) (bool, error)
}

// MinTrackKey is the shortest key TrackCode accepts: 32 random bytes.
const MinTrackKey = 32

// TrackCode is the tracking code for ticket number derived with key
// (HMAC-SHA-256, 16 base32 characters, 80 bits): what an SMS carries, since
// the tracking token of a report taken on the phone was never shown to
// anyone and only its digest is kept. Service.Track accepts it beside the
// token, so the link in an SMS works for as long as the key is kept.
func TrackCode(key []byte, number string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("yihao track code\x00" + number))
	return strings.ToLower(base32.StdEncoding.EncodeToString(m.Sum(nil))[:16])
}
