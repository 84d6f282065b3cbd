// Package row holds what the SQL stores share about a ticket's row: the
// column list (both schemas name the columns alike), the JSON columns, and
// the rows its indicator tallies are kept as.
package row

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/yihao-city/yihao/ticketing"
)

// TicketColumns lists the tickets table's columns in the order every store
// writes and scans them.
const TicketColumns = `id, number, track_hash, channel, external_id, fingerprint, line,
	reporter_name, reporter_phone, reporter_openid, body, lat, lon, address, attachments,
	status, category, category_name, department, department_name, priority, due_at,
	routing_rule, routing_reason, confidence, master_id, rework_count, extension_count,
	extension, evaluation, received_at, created_at, updated_at, version,
	grid, community, street, district, assisting, reporter_email, light, alarm_at, centre, centre_due, parts,
	task, task_due, task_by, found_by, article`

// JSON is a ticket's JSON columns as text; Extension and Evaluation are nil
// (SQL NULL) when the ticket has none.
type JSON struct {
	Attachments, Assisting, Parts string
	Extension, Evaluation         any
}

// EncodeJSON renders t's JSON columns.
func EncodeJSON(t *ticketing.Ticket) (JSON, error) {
	atts := t.Attachments
	if atts == nil {
		atts = []ticketing.Attachment{}
	}
	b, err := json.Marshal(atts)
	if err != nil {
		return JSON{}, err
	}
	assisting := t.Assisting
	if assisting == nil {
		assisting = []string{}
	}
	a, err := json.Marshal(assisting)
	if err != nil {
		return JSON{}, err
	}
	parts := t.Parts
	if parts == nil {
		parts = []ticketing.Part{}
	}
	p, err := json.Marshal(parts)
	if err != nil {
		return JSON{}, err
	}
	return JSON{Attachments: string(b), Assisting: string(a), Parts: string(p), Extension: orNull(t.Extension), Evaluation: orNull(t.Evaluation)}, nil
}

func orNull[T any](v *T) any {
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v) // plain structs of strings, bools and times: cannot fail
	return string(b)
}

// DecodeJSON fills t's JSON fields from the columns; ext and eval are nil for NULL.
func DecodeJSON(t *ticketing.Ticket, atts, assisting, parts, ext, eval []byte) error {
	if err := json.Unmarshal(atts, &t.Attachments); err != nil {
		return fmt.Errorf("attachments of ticket %d: %w", t.ID, err)
	}
	if len(t.Attachments) == 0 {
		t.Attachments = nil
	}
	if err := json.Unmarshal(assisting, &t.Assisting); err != nil {
		return fmt.Errorf("assisting departments of ticket %d: %w", t.ID, err)
	}
	if len(t.Assisting) == 0 {
		t.Assisting = nil
	}
	if err := json.Unmarshal(parts, &t.Parts); err != nil {
		return fmt.Errorf("assisting parts of ticket %d: %w", t.ID, err)
	}
	if len(t.Parts) == 0 {
		t.Parts = nil
	}
	if ext != nil {
		t.Extension = new(ticketing.Extension)
		if err := json.Unmarshal(ext, t.Extension); err != nil {
			return fmt.Errorf("extension of ticket %d: %w", t.ID, err)
		}
	}
	if eval != nil {
		t.Evaluation = new(ticketing.Evaluation)
		if err := json.Unmarshal(eval, t.Evaluation); err != nil {
			return fmt.Errorf("evaluation of ticket %d: %w", t.ID, err)
		}
	}
	return nil
}

// StatusNames lists the open (or the finished) states as the stores keep
// them, for IN (...) conditions.
func StatusNames(open bool) []string {
	o, f := ticketing.OpenStatuses()
	ss := f
	if open {
		ss = o
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// QuotedList renders names as a SQL list literal: ('a','b'). Only for
// names the code defines, never for input.
func QuotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return "(" + strings.Join(q, ",") + ")"
}

// Limit is a listing's row limit: n, or the default when n is not positive.
func Limit(n int) int {
	if n <= 0 {
		return ticketing.DefaultListLimit
	}
	return n
}

// SumsTable is the table of sums a store answers q from, and its period
// column: the monthly sums when q totals whole calendar months (not ByDay,
// From and To each the first day of a month), else the daily ones. Both
// schemas name them alike; q must be valid.
func SumsTable(q ticketing.IndicatorQuery) (table, period string) {
	if !q.ByDay && strings.HasSuffix(q.From, "-01") && strings.HasSuffix(q.To, "-01") {
		return "indicator_monthly", "month"
	}
	return "indicator_daily", "day"
}

// MetricNames are metrics as the stores write them.
func MetricNames(ms []ticketing.Metric) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

// Tallies are ts as both stores keep them in indicator_tallies: the
// tallies of one moment, keys and count share a row that lists their
// metrics, so a new ticket's received, registered and dispatched cost the
// store's one writer a single row and index entry, not three (BENCHMARKS.md,
// "A thirteenth pass"). metrics[i] is rows[i]'s metrics joined by commas
// (SQLite keeps them so; PostgreSQL splits them into an array, because an
// array parameter cannot hold arrays of different lengths); rows[i].Metric
// is its first.
func Tallies(ts []ticketing.Tally) (rows []ticketing.Tally, metrics []string) {
	for _, x := range ts {
		i := slices.IndexFunc(rows, func(r ticketing.Tally) bool { return r.At.Equal(x.At) && r.Keys == x.Keys && r.N == x.N })
		if i < 0 {
			rows, metrics = append(rows, x), append(metrics, string(x.Metric))
			continue
		}
		metrics[i] += "," + string(x.Metric)
	}
	return rows, metrics
}
