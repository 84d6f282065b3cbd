package postgres

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// The group commit's batch goes to PostgreSQL as one array per column, in
// the binary wire format. Each submit encodes its own rows' elements
// (pending, on the submitting goroutine) and the writer only puts each
// column's pieces together behind an array header. Letting pgx encode
// the batch's []any columns on the writer took it about 0.5 ms a batch,
// and the writer reads the answer to the batch before only once it has
// sent the next (BENCHMARKS.md, "A twelfth pass").

// element is how one column's values are encoded as array elements: the
// element type's oid, its array type's, and its binary encoding of a value.
type element struct {
	oid, array uint32
	append     func(buf []byte, v any) ([]byte, bool)
}

// elements maps a column's type (format_type's spelling, or the short
// one of the change tables' lists) to its element. jsonb goes as text and
// is cast in the statement. A type not here (a migration adding, say, a
// numeric column to tickets) stops the store from opening, naming it.
var elements = map[string]element{
	"bigint":                   {pgtype.Int8OID, pgtype.Int8ArrayOID, appendInt8},
	"integer":                  {pgtype.Int4OID, pgtype.Int4ArrayOID, appendInt4},
	"int":                      {pgtype.Int4OID, pgtype.Int4ArrayOID, appendInt4},
	"double precision":         {pgtype.Float8OID, pgtype.Float8ArrayOID, appendFloat8},
	"text":                     {pgtype.TextOID, pgtype.TextArrayOID, appendText},
	"jsonb":                    {pgtype.TextOID, pgtype.TextArrayOID, appendText},
	"timestamp with time zone": {pgtype.TimestamptzOID, pgtype.TimestamptzArrayOID, appendTimestamptz},
	"timestamptz":              {pgtype.TimestamptzOID, pgtype.TimestamptzArrayOID, appendTimestamptz},
	"boolean":                  {pgtype.BoolOID, pgtype.BoolArrayOID, appendBool},
}

// column is one column of a batch table: its name, for errors, and element.
type column struct {
	name string
	element
}

// columnOf is the column c ("name type").
func columnOf(c string) (column, error) {
	name, typ, _ := strings.Cut(c, " ")
	e, ok := elements[typ]
	if !ok {
		return column{}, fmt.Errorf("postgres: the group commit cannot send %s, a column of type %s", name, typ)
	}
	return column{name, e}, nil
}

// maxColumns bounds a batch table's columns: encoded keeps a bit a column.
const maxColumns = 64

// isNull reports whether v is sent as NULL: nil, a nil time (the store's
// nullable times are *time.Time) or nil bytes, as pgx sends them.
func isNull(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case *time.Time:
		return x == nil
	case []byte:
		return x == nil
	}
	return false
}

// appendNull appends a NULL element.
func appendNull(buf []byte) []byte { return binary.BigEndian.AppendUint32(buf, math.MaxUint32) }

func appendSized(buf []byte, n int) []byte { return binary.BigEndian.AppendUint32(buf, uint32(n)) }

// integer is the Go integers a batch row may hold.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int:
		return int64(x), true
	}
	return 0, false
}

func appendInt8(buf []byte, v any) ([]byte, bool) {
	n, ok := integer(v)
	if !ok {
		return buf, false
	}
	return binary.BigEndian.AppendUint64(appendSized(buf, 8), uint64(n)), true
}

func appendInt4(buf []byte, v any) ([]byte, bool) {
	n, ok := integer(v)
	if !ok || n < math.MinInt32 || n > math.MaxInt32 {
		return buf, false
	}
	return binary.BigEndian.AppendUint32(appendSized(buf, 4), uint32(int32(n))), true
}

func appendFloat8(buf []byte, v any) ([]byte, bool) {
	f, ok := v.(float64)
	if !ok {
		return buf, false
	}
	return binary.BigEndian.AppendUint64(appendSized(buf, 8), math.Float64bits(f)), true
}

func appendText(buf []byte, v any) ([]byte, bool) {
	switch s := v.(type) {
	case string:
		return append(appendSized(buf, len(s)), s...), true
	case []byte:
		return append(appendSized(buf, len(s)), s...), true
	}
	return buf, false
}

// y2k is PostgreSQL's epoch, in microseconds after Unix's.
const y2k = 946684800 * 1000000

func appendTimestamptz(buf []byte, v any) ([]byte, bool) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time: // not nil (isNull)
		t = *x
	default:
		return buf, false
	}
	us := t.Unix()*1000000 + int64(t.Nanosecond())/1000 - y2k
	return binary.BigEndian.AppendUint64(appendSized(buf, 8), uint64(us)), true
}

func appendBool(buf []byte, v any) ([]byte, bool) {
	b, ok := v.(bool)
	if !ok {
		return buf, false
	}
	if b {
		return append(appendSized(buf, 1), 1), true
	}
	return append(appendSized(buf, 1), 0), true
}

// table is one table's columns in a batch, in the statement's parameter
// order; at most maxColumns.
type table []column

// encoded is one submit's rows of one table, column by column: the
// elements of column i are buf[ends[i-1]:ends[i]].
type encoded struct {
	rows  int
	buf   []byte
	ends  []int
	nulls uint64 // bit i: column i has a NULL
}

// encode encodes rows (each a value per column of tb).
func (tb table) encode(rows [][]any) (encoded, error) {
	e := encoded{rows: len(rows), ends: make([]int, len(tb))}
	for i, col := range tb {
		for _, r := range rows {
			v := r[i]
			if isNull(v) {
				e.buf, e.nulls = appendNull(e.buf), e.nulls|1<<i
				continue
			}
			var ok bool
			if e.buf, ok = col.append(e.buf, v); !ok {
				// The value itself stays out: it may be a citizen's words.
				return encoded{}, fmt.Errorf("postgres: the group commit cannot send a %T as %s", v, col.name)
			}
		}
		e.ends[i] = len(e.buf)
	}
	return e, nil
}

// appendArrays appends tb's arrays for the parts (one per submit of a
// batch) to buf, and each array, a slice of buf, to arrays. An array stays
// valid when a later append moves buf: appends never change bytes already
// written.
func (tb table) appendArrays(buf []byte, arrays [][]byte, parts []*encoded) ([]byte, [][]byte) {
	rows := 0
	var nulls uint64
	for _, p := range parts {
		rows += p.rows
		nulls |= p.nulls
	}
	for i, col := range tb {
		start := len(buf)
		buf = binary.BigEndian.AppendUint32(buf, 1)                  // dimensions
		buf = binary.BigEndian.AppendUint32(buf, uint32(nulls>>i&1)) // has NULLs
		buf = binary.BigEndian.AppendUint32(buf, col.oid)
		buf = binary.BigEndian.AppendUint32(buf, uint32(rows))
		buf = binary.BigEndian.AppendUint32(buf, 1) // lower bound
		for _, p := range parts {
			from := 0
			if i > 0 {
				from = p.ends[i-1]
			}
			buf = append(buf, p.buf[from:p.ends[i]]...)
		}
		arrays = append(arrays, buf[start:])
	}
	return buf, arrays
}
