package grid

import (
	"math"
	"strings"
	"testing"
)

const testGazetteer = `
# communities point to a cell, streets and roads to a point
- {name: 南池子社区, aliases: [南池子, 南池子居委会], cell: "110101001001001"}
- name: 东华门街道
  aliases: [东华门街道办事处]
  lat: 39.25
  lon: 116.25 # inside D's hole, on the island F
- {name: 东华门, lat: 39.15, lon: 116.25}
- {name: 长安街, lat: 39.15, lon: 116.15}
- {name: 王府井, lat: 39.22, lon: 116.22}
- {name: SOHO现代城, aliases: [ＳＯＨＯ 尚都], cell: "110101001001005"}
`

func loadTestGazetteer(t testing.TB) *Gazetteer {
	t.Helper()
	g, err := LoadGazetteer(strings.NewReader(testGazetteer), loadTestIndex(t))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGazetteerFind(t *testing.T) {
	g := loadTestGazetteer(t)
	if g.Len() != 6 {
		t.Errorf("Len() = %d, want 6", g.Len())
	}
	tests := []struct {
		address     string
		wantName    string // "" for not found
		wantMatched string
		wantCell    string
	}{
		{"南池子社区", "南池子社区", "南池子社区", codeA},
		{"东华门街道南池子社区3号楼", "南池子社区", "南池子社区", codeA},      // longest match: the community, not the street
		{"东华门街道 南池子社区３号楼２单元", "南池子社区", "南池子社区", codeA},  // spaces and full-width digits
		{"东城区东华门街道　南 池 子 社 区", "南池子社区", "南池子社区", codeA}, // full-width and inner spaces
		{"南池子大街12号", "南池子社区", "南池子", codeA},             // alias
		{"南池子居委会门口", "南池子社区", "南池子居委会", codeA},          // the longer alias
		{"东华门街道办事处", "东华门街道", "东华门街道办事处", codeF},        // point entry: the cell that contains it
		{"东华门街道", "东华门街道", "东华门街道", codeF},              // not the shorter 东华门
		{"东华门外", "东华门", "东华门", codeB},
		{"王府井与长安街交叉口", "长安街", "长安街", codeA}, // equal length: the later in the address
		{"长安街与王府井交叉口", "王府井", "王府井", codeD},
		{"南池子社区东华门街道", "东华门街道", "东华门街道", codeF},
		{"soho现代城b座", "SOHO现代城", "SOHO现代城", codeE}, // case folded
		{"ＳＯＨＯ现代城Ｂ座", "SOHO现代城", "SOHO现代城", codeE},
		{"soho尚都北塔", "SOHO现代城", "ＳＯＨＯ 尚都", codeE},
		{"海淀区中关村大街1号", "", "", ""},
		{"南池", "", "", ""},
		{"", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			p, ok := g.Find(tt.address)
			if ok != (tt.wantName != "") || p.Name != tt.wantName || p.Matched != tt.wantMatched || p.Cell.Code != tt.wantCell {
				t.Errorf("Find(%q) = %q (matched %q, cell %q), %v; want %q (matched %q, cell %q)",
					tt.address, p.Name, p.Matched, p.Cell.Code, ok, tt.wantName, tt.wantMatched, tt.wantCell)
			}
		})
	}
}

func TestGazetteerPlacePoint(t *testing.T) {
	g := loadTestGazetteer(t)
	// A cell entry is placed at the cell's centroid.
	p, _ := g.Find("南池子社区")
	if math.Abs(p.Lat-39.15) > 1e-9 || math.Abs(p.Lon-116.15) > 1e-9 {
		t.Errorf("cell entry placed at %v, %v; want the centroid of A, 39.15, 116.15", p.Lat, p.Lon)
	}
	if p.Cell.StreetName != "东华门街道" {
		t.Errorf("cell entry's cell = %+v, want the full cell", p.Cell)
	}
	// A point entry keeps its point.
	p, _ = g.Find("长安街")
	if p.Lat != 39.15 || p.Lon != 116.15 {
		t.Errorf("point entry placed at %v, %v; want 39.15, 116.15", p.Lat, p.Lon)
	}
}

func TestLoadGazetteerErrors(t *testing.T) {
	ix := loadTestIndex(t)
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown cell", "- {name: A, cell: \"110101001001001\"}\n- {name: 某小区, cell: \"999\"}", `gazetteer: entry 2 (某小区) at line 2: unknown cell code "999"`},
		{"missing both", "- {name: 长安街}", `gazetteer: entry 1 (长安街) at line 1: missing both cell and point`},
		{"both", "- {name: 长安街, cell: \"110101001001001\", lat: 39.15, lon: 116.15}", `entry 1 (长安街) at line 1: give either cell or lat and lon, not both`},
		{"lat only", "- {name: 长安街, lat: 39.15}", `entry 1 (长安街) at line 1: a point needs both lat and lon`},
		{"point outside", "- {name: 长安街, lat: 39.9, lon: 116.4}", `entry 1 (长安街) at line 1: point lat 39.9, lon 116.4 is outside every grid cell`},
		{"swapped", "- {name: 长安街, lat: 116.15, lon: 39.15}", `entry 1 (长安街) at line 1: lat 116.15, lon 39.15 out of range`},
		{"no name", "- {cell: \"110101001001001\"}", `entry 1 at line 1: missing name`},
		{"empty alias", "- {name: 长安街, aliases: [\" \"], lat: 39.15, lon: 116.15}", `entry 1 (长安街) at line 1: empty name or alias`},
		{"alias taken", "- {name: 长安街, lat: 39.15, lon: 116.15}\n\n- {name: 长安大街, aliases: [长 安街], lat: 39.15, lon: 116.15}",
			`entry 2 (长安大街) at line 3: "长 安街" is already the name or alias of entry 1 (长安街)`},
		{"unknown field", "- {name: 长安街, alias: [x], lat: 39.15, lon: 116.15}", `gazetteer: yaml: unmarshal errors:`},
		{"not a list", "name: 长安街", `gazetteer: yaml: unmarshal errors:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadGazetteer(strings.NewReader(tt.yaml), ix)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
	if _, err := LoadGazetteer(strings.NewReader(""), nil); err == nil {
		t.Error("LoadGazetteer with no index succeeded")
	}
}

func FuzzFind(f *testing.F) {
	g := loadTestGazetteer(f)
	for _, s := range []string{"东华门街道南池子社区3号楼", "ＳＯＨＯ 尚都", "\xff南池子\xfe", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, address string) {
		p, ok := g.Find(address)
		if ok && !strings.Contains(normalize(address), normalize(p.Matched)) {
			t.Errorf("Find(%q) matched %q, which is not in the address", address, p.Matched)
		}
	})
}
