// Package sqlq holds the SQL mechanics the two stores share: the WHERE
// builder, the conditions each listing's filter makes, the scanning of
// rows both schemas lay out alike, and the loop that collects them. What
// differs between the dialects is a Dialect: how a parameter is written
// ($1 or ?) and how a time is kept (timestamptz in PostgreSQL,
// microseconds in SQLite). The statements, the locking and whatever a
// dialect does its own way stay in each store.
package sqlq

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// Dialect is one store's way with parameters and times. T is what a NOT
// NULL time column scans into (time.Time, int64), N what a nullable one
// does (*time.Time, sql.NullInt64): type parameters rather than
// interfaces, so a row scans with no conversion in between.
type Dialect[T, N any] struct {
	Numbered  bool                // parameters are $1, $2, … rather than ?
	Time      func(time.Time) any // a time as a parameter
	NullTime  func(time.Time) any // the same, the zero time as NULL
	At        func(T) time.Time   // a scanned NOT NULL time column
	NullAt    func(N) time.Time   // a scanned nullable one; NULL is the zero time
	Translate func(error) error   // the driver's errors as ticketing kinds
}

// Where starts an empty conjunction in d's way.
func (d Dialect[T, N]) Where() *Where { return &Where{numbered: d.Numbered, time: d.Time} }

// Scanner is a row: pgx.Row, *sql.Row, *sql.Rows, pgx.Rows.
type Scanner interface {
	Scan(dest ...any) error
}

// Rows is a result set being read.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect scans every row with scan, whose errors it passes on as they
// are; the result set's own error is translated. It never returns nil on
// success, so a listing with no rows encodes as [] rather than null.
func Collect[V any](rows Rows, translate func(error) error, scan func(Scanner) (V, error)) ([]V, error) {
	out := []V{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, translate(rows.Err())
}

// Where builds a conjunction of conditions. Conditions are written with ?
// for each parameter whatever the dialect; a numbered dialect gets $n.
type Where struct {
	numbered bool
	time     func(time.Time) any
	conds    []string
	// Args are the parameters of the conditions, then of Param.
	Args []any
}

// Add adds a condition and its parameters, one ? each.
func (w *Where) Add(cond string, args ...any) {
	for _, a := range args {
		w.Args = append(w.Args, a)
		if w.numbered {
			cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.Args)), 1)
		}
	}
	w.conds = append(w.conds, cond)
}

// AddTime adds a condition on one time, kept in the dialect's way.
func (w *Where) AddTime(cond string, t time.Time) { w.Add(cond, w.time(t)) }

// In adds col IN (vals…). On PostgreSQL a placeholder each: the planner
// estimates a list it can count (with = ANY($1) and an array its generic
// plan took the screen pop's lookup from 0.17 to 0.6 ms). On SQLite one
// JSON parameter read by json_each, which plans as the list does (an index
// search per value) but keeps the statement's text the same however many
// values there are, so the store keeps it prepared: parsed anew, the screen
// pop's lookup (the caller's number spelled three ways) took 0.62 ms, and
// 0.16 prepared (BenchmarkEarlierTickets, while the pop read through List;
// it now reads through LatestByPhone).
func (w *Where) In(col string, vals []string) {
	if w.numbered {
		ps := make([]string, len(vals))
		for i, v := range vals {
			ps[i] = w.Param(v)
		}
		w.conds = append(w.conds, col+" IN ("+strings.Join(ps, ",")+")")
		return
	}
	list, _ := json.Marshal(vals) // strings always encode
	w.conds = append(w.conds, col+" IN (SELECT value FROM json_each("+w.Param(string(list))+"))")
}

// Param adds a parameter outside the conditions (a LIMIT) and returns
// how the statement names it.
func (w *Where) Param(v any) string {
	w.Args = append(w.Args, v)
	if w.numbered {
		return "$" + strconv.Itoa(len(w.Args))
	}
	return "?"
}

// String is " WHERE …", or nothing without conditions.
func (w *Where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// And is the conditions for appending to a WHERE a query already has.
func (w *Where) And() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " AND " + strings.Join(w.conds, " AND ")
}

// Rebind writes a statement's ? parameters in d's way.
func (d Dialect[T, N]) Rebind(query string) string {
	if !d.Numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// One is the single result of a batch of one.
func One[V any](vs []V, err error) (V, error) {
	if err != nil || len(vs) == 0 {
		var zero V
		return zero, err
	}
	return vs[0], nil
}

// Common maps what every driver reports alike: noRows (the driver's "no
// rows" error) as ErrNotFound, and a cancelled or timed-out context as
// unavailable, since the outcome of a write cut short is unknown and the
// caller retries. ok is false for anything else, the store's to map.
func Common(err, noRows error) (mapped error, ok bool) {
	switch {
	case err == nil:
		return nil, true
	case errors.Is(err, noRows):
		return ticketing.ErrNotFound, true
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return ticketing.Unavailable(err), true
	}
	return err, false
}
