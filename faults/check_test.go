package faults

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"

	"github.com/jackc/pgx/v5/pgxpool"
)

// tally is what became of one channel's reports during one fault, by the
// senders' records and the database.
type tally struct {
	Fault, Channel string

	Sent       int // reports sent (each once or more)
	Acked      int // acknowledged with a ticket number
	Silent     int // WeChat: answered "success" without a reply (WeChat stops pushing)
	GaveUp     int // the sender stopped without an acknowledgement
	Rejected   int // a final answer that was no acknowledgement
	Stored     int // reports found in the database
	Duplicated int // tickets beyond the first for one report
	Lost       int // acknowledged and not stored under the number given
	SilentLost int // WeChat: answered "success" and not stored (WeChat never pushes it again)
	Retries    int // attempts beyond the first
	KeyDups    int // external keys stored more than once, as GROUP BY counts them

	Answers  map[string]int // refusals and failures seen on the way, by kind
	Problems []string       // the first few findings, with their evidence
}

// Line is the fault's line for this channel.
func (tl tally) Line() string {
	s := fmt.Sprintf("fault=%s channel=%s sent=%d acknowledged=%d stored=%d duplicated=%d lost=%d retries=%d gave_up=%d rejected=%d",
		tl.Fault, tl.Channel, tl.Sent, tl.Acked, tl.Stored, tl.Duplicated, tl.Lost, tl.Retries, tl.GaveUp, tl.Rejected)
	if tl.Channel == "wechat" {
		s += fmt.Sprintf(" success_no_reply=%d success_not_stored=%d", tl.Silent, tl.SilentLost)
	}
	return s + " refusals=" + formatAnswers(tl.Answers)
}

func (tl *tally) problem(format string, args ...any) {
	if len(tl.Problems) < 10 {
		tl.Problems = append(tl.Problems, fmt.Sprintf(format, args...))
	}
}

// markerInBody finds a report's marker in a ticket's text.
var markerInBody = regexp.MustCompile(`\[faults [^]]*\]`)

// stored is a ticket as the database has it.
type stored struct {
	Number, Channel, ExternalID, Marker string
}

// verify reads the database directly and counts, for the reports of c
// (stored with channel dbChannel): which exist, which twice, and which
// acknowledged ones are missing or stored under another number.
func verify(ctx context.Context, db *pgxpool.Pool, c *channelLoad, dbChannel, markerPrefix string) (tally, error) {
	reports := c.Reports()
	tl := tally{Fault: c.Fault, Channel: c.Channel, Sent: len(reports), Answers: c.Answers()}
	keys := make([]string, len(reports))
	byMarker := make(map[string]*report, len(reports))
	for i, r := range reports {
		keys[i] = r.Key
		byMarker[r.Marker] = r
	}

	// Every ticket that carries one of the reports' keys or markers: a
	// report stored twice under two keys shows by its marker.
	rows, err := db.Query(ctx, `SELECT number, channel, external_id, body FROM tickets
		WHERE (channel = $1 AND external_id = ANY($2)) OR body LIKE $3`,
		dbChannel, keys, "%"+markerPrefix+"%")
	if err != nil {
		return tl, fmt.Errorf("verify %s: %w", c.Channel, err)
	}
	found := map[*report]map[string]stored{} // report -> its tickets by number
	add := func(r *report, s stored) {
		if found[r] == nil {
			found[r] = map[string]stored{}
		}
		found[r][s.Number] = s
	}
	byKey := make(map[string]*report, len(reports))
	for _, r := range reports {
		byKey[r.Key] = r
	}
	for rows.Next() {
		var s stored
		var body string
		if err := rows.Scan(&s.Number, &s.Channel, &s.ExternalID, &body); err != nil {
			rows.Close()
			return tl, fmt.Errorf("verify %s: %w", c.Channel, err)
		}
		s.Marker = markerInBody.FindString(body)
		if r := byKey[s.ExternalID]; r != nil && s.Channel == dbChannel {
			add(r, s)
		}
		if r := byMarker[s.Marker]; r != nil {
			add(r, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return tl, fmt.Errorf("verify %s: %w", c.Channel, err)
	}

	// The same, as the database counts it: no external key twice.
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (SELECT external_id FROM tickets
		WHERE channel = $1 AND external_id = ANY($2) GROUP BY external_id HAVING count(*) > 1) d`,
		dbChannel, keys).Scan(&tl.KeyDups); err != nil {
		return tl, fmt.Errorf("verify %s: %w", c.Channel, err)
	}
	if tl.KeyDups > 0 {
		tl.problem("%d external keys stored more than once (GROUP BY external_id)", tl.KeyDups)
	}

	// Every acknowledged number, wherever it is.
	var numbers []string
	for _, r := range reports {
		if r.Acked {
			numbers = append(numbers, r.Number)
		}
	}
	byNumber := map[string]stored{}
	rows, err = db.Query(ctx, `SELECT number, channel, external_id FROM tickets WHERE number = ANY($1)`, numbers)
	if err != nil {
		return tl, fmt.Errorf("verify %s: %w", c.Channel, err)
	}
	for rows.Next() {
		var s stored
		if err := rows.Scan(&s.Number, &s.Channel, &s.ExternalID); err != nil {
			rows.Close()
			return tl, fmt.Errorf("verify %s: %w", c.Channel, err)
		}
		byNumber[s.Number] = s
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return tl, fmt.Errorf("verify %s: %w", c.Channel, err)
	}

	for _, r := range reports {
		tl.Retries += max(r.Attempts-1, 0)
		switch {
		case r.Acked:
			tl.Acked++
		case r.Silent:
			tl.Silent++
		case r.GaveUp:
			tl.GaveUp++
		case r.Rejected != "":
			tl.Rejected++
			tl.problem("report %s rejected: %s", r.Key, r.Rejected)
		}
		tickets := found[r]
		if len(tickets) > 0 {
			tl.Stored++
		}
		if len(tickets) > 1 {
			tl.Duplicated += len(tickets) - 1
			tl.problem("report %s (%s) stored %d times: %v", r.Key, r.Marker, len(tickets), tickets)
		}
		switch {
		case r.Acked:
			s, ok := byNumber[r.Number]
			switch {
			case !ok:
				tl.Lost++
				tl.problem("report %s acknowledged as %s after %d attempts: no ticket has that number (stored: %v)",
					r.Key, r.Number, r.Attempts, tickets)
			case s.Channel != dbChannel || s.ExternalID != r.Key:
				tl.Lost++
				tl.problem("report %s acknowledged as %s, but that ticket is %s/%s", r.Key, r.Number, s.Channel, s.ExternalID)
			}
		case r.Silent && len(tickets) == 0:
			// WeChat was told "success", so it never pushes again: the
			// message is gone.
			tl.SilentLost++
			tl.problem("push %s answered \"success\" after %d attempts, but no ticket has it", r.Key, r.Attempts)
		}
	}
	return tl, nil
}

// unclear are the kinds in answers that are not among allowed, sorted.
func unclear(answers map[string]int, allowed ...string) []string {
	var out []string
	for k, n := range answers {
		if !slices.Contains(allowed, k) {
			out = append(out, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	sort.Strings(out)
	return out
}
