package postgres

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// arrayCase is one column's values, each the row of one submit, and the
// array type pgx sends them as.
type arrayCase struct {
	typ    string
	array  uint32
	values []any
}

var (
	at         = time.Date(2026, 12, 7, 11, 30, 0, 123456789, time.FixedZone("CST", 8*3600))
	beforeY2K  = time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	beforeUnix = time.Date(1969, 7, 20, 20, 17, 40, 500, time.UTC) // a sub-microsecond part, truncated
	arrayCases = []arrayCase{
		{"bigint", pgtype.Int8ArrayOID, []any{int64(1), nil, int64(-5), int64(1) << 40, int64(math.MinInt64)}},
		{"integer", pgtype.Int4ArrayOID, []any{int32(7), int32(-1), 3, int64(math.MinInt32)}},
		{"int", pgtype.Int4ArrayOID, []any{int32(2)}},
		{"double precision", pgtype.Float8ArrayOID, []any{39.9, nil, -116.4, 0.0}},
		{"text", pgtype.TextArrayOID, []any{"井盖丢了", "", nil, "a\x00b"}},
		{"jsonb", pgtype.TextArrayOID, []any{`{"a":1}`, []byte("[]"), []byte(nil)}},
		{"timestamp with time zone", pgtype.TimestamptzArrayOID, []any{at, (*time.Time)(nil), &at, beforeY2K, beforeUnix}},
		{"timestamptz", pgtype.TimestamptzArrayOID, []any{at}},
		{"boolean", pgtype.BoolArrayOID, []any{true, false, nil}},
		{"text", pgtype.TextArrayOID, []any{}},
	}
)

// The group commit's arrays are byte for byte what pgx sends for the same
// values, whichever submits' rows make them up.
func TestArraysEncodeAsPgx(t *testing.T) {
	m := pgtype.NewMap()
	for _, c := range arrayCases {
		col, err := columnOf("x " + c.typ)
		if err != nil {
			t.Fatal(err)
		}
		if col.array != c.array {
			t.Errorf("%s: array type %d, want %d", c.typ, col.array, c.array)
		}
		tb := table{col}
		// Each value is one submit's row: the arrays join the submits' parts.
		var parts []*encoded
		for _, v := range c.values {
			p, err := tb.encode([][]any{{v}})
			if err != nil {
				t.Fatalf("%s %v: %v", c.typ, v, err)
			}
			parts = append(parts, &p)
		}
		_, arrays := tb.appendArrays([]byte("ahead"), nil, parts)
		assertPgxArray(t, m, c, arrays[0], c.values)
	}
}

// A table of every case's column, with submits of several rows each: each
// column's array still holds its own values in order.
func TestArraysOfManyColumns(t *testing.T) {
	m := pgtype.NewMap()
	var tb table
	width := 0
	for i, c := range arrayCases {
		col, err := columnOf(fmt.Sprintf("c%d %s", i, c.typ))
		if err != nil {
			t.Fatal(err)
		}
		tb = append(tb, col)
		width = max(width, len(c.values))
	}
	// Row r holds each column's r-th value (or its first again, or NULL
	// for the empty column); submits take one row, then two, then the rest.
	cells := make([][]any, len(arrayCases))
	rows := make([][]any, width)
	for r := range rows {
		rows[r] = make([]any, len(tb))
		for i, c := range arrayCases {
			var v any
			if len(c.values) > 0 {
				v = c.values[min(r, len(c.values)-1)]
			}
			rows[r][i] = v
			cells[i] = append(cells[i], v)
		}
	}
	var parts []*encoded
	for _, span := range [][2]int{{0, 1}, {1, 3}, {3, width}} {
		p, err := tb.encode(rows[span[0]:span[1]])
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, &p)
	}
	_, arrays := tb.appendArrays(nil, nil, parts)
	if len(arrays) != len(tb) {
		t.Fatalf("%d arrays for %d columns", len(arrays), len(tb))
	}
	for i, c := range arrayCases {
		if len(c.values) == 0 {
			c.array = pgtype.TextArrayOID // the empty column's rows are NULLs
		}
		assertPgxArray(t, m, c, arrays[i], cells[i])
	}
}

func assertPgxArray(t *testing.T, m *pgtype.Map, c arrayCase, got []byte, values []any) {
	t.Helper()
	want, err := m.Encode(c.array, pgtype.BinaryFormatCode, values, nil)
	if err != nil {
		t.Fatalf("%s: pgx: %v", c.typ, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s %v:\n got  %x\n want %x", c.typ, values, got, want)
	}
}

// A value of the wrong kind for its column fails the submit, naming the
// column, rather than sending something the database would read as another
// value; a column the batch cannot send stops the store from opening.
func TestArraysRefuseTheWrongKind(t *testing.T) {
	for _, c := range []struct {
		typ string
		v   any
	}{
		{"bigint", "7"}, {"integer", int64(1) << 40}, {"double precision", float32(1)},
		{"text", 7}, {"timestamptz", "2026-12-07"}, {"boolean", 1},
	} {
		col, _ := columnOf("due_at " + c.typ)
		if _, err := (table{col}).encode([][]any{{c.v}}); err == nil || !strings.Contains(err.Error(), "as due_at") {
			t.Errorf("%s %T: err = %v, want a refusal naming due_at", c.typ, c.v, err)
		}
	}
	if _, err := columnOf("amount numeric"); err == nil || !strings.Contains(err.Error(), "amount, a column of type numeric") {
		t.Errorf("columnOf(amount numeric) = %v, want a refusal naming the column and its type", err)
	}
	wide := make([]string, maxColumns+1)
	for i := range wide {
		wide[i] = fmt.Sprintf("c%d text", i)
	}
	if _, err := newBatchTables(wide); err == nil {
		t.Errorf("a table of %d columns was taken; its NULLs would not fit encoded's bits", len(wide))
	}
}
