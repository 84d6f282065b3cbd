package grid

import (
	"bytes"
	"strings"
	"testing"
)

// The generated demo grid loads, every cell in a community of a street of
// a district, and a layout too small or upside down is refused.
func TestGenerate(t *testing.T) {
	data, err := Generate(DemoLayout())
	if err != nil {
		t.Fatal(err)
	}
	ix, err := Load(bytes.NewReader(data))
	if err != nil || ix.Len() != 48*60 {
		t.Fatalf("demo grid: %v, %d cells", err, ix.Len())
	}
	for c := range ix.Cells() {
		if !strings.HasPrefix(c.Code, c.Community) || !strings.HasPrefix(c.Community, c.Street) || !strings.HasPrefix(c.Street, c.District) {
			t.Fatalf("cell %+v does not nest", c)
		}
	}
	for _, bad := range []Layout{{Rows: 7, Cols: 10, South: 1, North: 2, West: 1, East: 2}, {Rows: 8, Cols: 10, South: 2, North: 1, West: 1, East: 2}} {
		if _, err := Generate(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
