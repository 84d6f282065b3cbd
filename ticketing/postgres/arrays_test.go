package postgres

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// The group commit's arrays are byte for byte what pgx sends for the same
// values, whichever submits' rows make them up.
func TestArraysEncodeAsPgx(t *testing.T) {
	m := pgtype.NewMap()
	at := time.Date(2026, 12, 7, 11, 30, 0, 123456789, time.FixedZone("CST", 8*3600))
	early := time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC) // before PostgreSQL's epoch
	cases := []struct {
		typ    string
		array  uint32
		values []any
	}{
		{"bigint", pgtype.Int8ArrayOID, []any{int64(1), nil, int64(-5), int64(1) << 40}},
		{"integer", pgtype.Int4ArrayOID, []any{int32(7), int32(-1), 3}},
		{"int", pgtype.Int4ArrayOID, []any{int32(2)}},
		{"double precision", pgtype.Float8ArrayOID, []any{39.9, nil, -116.4, 0.0}},
		{"text", pgtype.TextArrayOID, []any{"井盖丢了", "", nil, "a\x00b"}},
		{"jsonb", pgtype.TextArrayOID, []any{`{"a":1}`, []byte("[]")}},
		{"timestamp with time zone", pgtype.TimestamptzArrayOID, []any{at, (*time.Time)(nil), &at, early}},
		{"timestamptz", pgtype.TimestamptzArrayOID, []any{at}},
		{"boolean", pgtype.BoolArrayOID, []any{true, false, nil}},
		{"text", pgtype.TextArrayOID, []any{}},
	}
	for _, c := range cases {
		e, err := elementOf(c.typ)
		if err != nil {
			t.Fatal(err)
		}
		tb := table{e}
		// Each value is one submit's row: the arrays join the submits' parts.
		var parts []*encoded
		for _, v := range c.values {
			p, err := tb.encode([][]any{{v}})
			if err != nil {
				t.Fatalf("%s %v: %v", c.typ, v, err)
			}
			parts = append(parts, &p)
		}
		buf, bounds := tb.appendArrays([]byte("ahead"), nil, parts)
		got := buf[bounds[0][0]:bounds[0][1]]
		want, err := m.Encode(c.array, pgtype.BinaryFormatCode, c.values, nil)
		if err != nil {
			t.Fatalf("%s: pgx: %v", c.typ, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s %v:\n got  %x\n want %x", c.typ, c.values, got, want)
		}
	}
}

// A value of the wrong kind for its column fails the submit, naming it,
// rather than sending something the database would read as another value.
func TestArraysRefuseTheWrongKind(t *testing.T) {
	for _, c := range []struct {
		typ string
		v   any
	}{
		{"bigint", "7"}, {"integer", int64(1) << 40}, {"double precision", float32(1)},
		{"text", 7}, {"timestamptz", "2026-12-07"}, {"boolean", 1},
	} {
		e, _ := elementOf(c.typ)
		if _, err := (table{e}).encode([][]any{{c.v}}); err == nil || !strings.Contains(err.Error(), "cannot send") {
			t.Errorf("%s %T: err = %v, want a refusal", c.typ, c.v, err)
		}
	}
	if _, err := elementOf("numeric"); err == nil || !strings.Contains(err.Error(), "numeric") {
		t.Errorf("elementOf(numeric) = %v, want a refusal naming the type", err)
	}
}
