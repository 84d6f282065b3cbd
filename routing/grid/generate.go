package grid

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The demo city's divisions: three districts, west to east; each has four
// streets (街道), north to south; each street has four communities (社区),
// north-west, north-east, south-west, south-east. Names are in the style of
// a Chinese city centre; the boundaries are invented.
type demoDistrict struct {
	code, name string
	share      int // fifths of the grid's width
	streets    [4]demoStreet
}

type demoStreet struct {
	name        string
	communities [4]string
}

func demoDivisions() []demoDistrict {
	return []demoDistrict{
		{"110102", "西城区", 2, [4]demoStreet{
			{"新街口街道", [4]string{"西直门内社区", "赵登禹路社区", "新康社区", "玉桃园社区"}},
			{"金融街街道", [4]string{"丰盛社区", "砖塔社区", "太平桥社区", "二龙路社区"}},
			{"西长安街街道", [4]string{"府右街社区", "西单北社区", "六部口社区", "和平门社区"}},
			{"大栅栏街道", [4]string{"煤市街社区", "大栅栏西街社区", "铁树斜街社区", "延寿街社区"}},
		}},
		{"110101", "东城区", 2, [4]demoStreet{
			{"安定门街道", [4]string{"国子监社区", "交道口社区", "钟楼湾社区", "宝钞社区"}},
			{"景山街道", [4]string{"黄化门社区", "吉祥社区", "三眼井社区", "景山东街社区"}},
			{"东华门街道", [4]string{"南池子社区", "韶九社区", "多福巷社区", "台基厂社区"}},
			{"天坛街道", [4]string{"天坛东里社区", "金鱼池社区", "永内东街社区", "体育馆路社区"}},
		}},
		{"110105", "朝阳区", 1, [4]demoStreet{
			{"朝外街道", [4]string{"吉庆里社区", "雅宝里社区", "芳草地社区", "工体东路社区"}},
			{"建外街道", [4]string{"永安里社区", "光华里社区", "秀水社区", "建国里社区"}},
			{"劲松街道", [4]string{"劲松西社区", "劲松东社区", "农光里社区", "磨房北里社区"}},
			{"潘家园街道", [4]string{"华威西里社区", "潘家园东里社区", "武圣东里社区", "松榆里社区"}},
		}},
	}
}

// Layout is a generated grid's size and place: rows × cols square-ish
// cells between the given edges, in degrees.
type Layout struct {
	Rows, Cols               int
	South, West, North, East float64
}

// DemoLayout is the demo grid: 48 × 60 squares of about 230 m over the demo city's
// centre. Real unit grids are 1–5 ha; these are 5 ha so that the whole demo
// area fits in 2,880 cells and under 2 MB.
func DemoLayout() Layout {
	return Layout{Rows: 48, Cols: 60, South: 39.86, West: 116.30, North: 39.96, East: 116.46}
}

// genCell is one square of the generated grid.
type genCell struct {
	props    genProps
	row, col int
}

// genProps are a cell's GeoJSON properties, in the order written.
type genProps struct {
	Code          string `json:"code"`
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	Community     string `json:"community"`
	CommunityName string `json:"community_name"`
	Street        string `json:"street"`
	StreetName    string `json:"street_name"`
	District      string `json:"district"`
	DistrictName  string `json:"district_name"`
}

// Generate lays the demo city's divisions over a rows × cols grid and returns
// the GeoJSON, one feature per line, in code order. Cell codes are GB/T
// 2260-style: district (6 digits) + street (3) + community (3) + cell (3),
// cells numbered within their community in reading order from the
// north-west. The output depends only on cfg.
func Generate(cfg Layout) ([]byte, error) {
	switch {
	case cfg.Rows < 8 || cfg.Cols < 10:
		return nil, fmt.Errorf("need at least 8 rows and 10 columns (4 streets × 2 communities high, 5 fifths × 2 wide), got %d × %d", cfg.Rows, cfg.Cols)
	case !(cfg.South >= -90 && cfg.South < cfg.North && cfg.North <= 90):
		return nil, fmt.Errorf("need -90 ≤ south < north ≤ 90, got south %v, north %v", cfg.South, cfg.North)
	case !(cfg.West >= -180 && cfg.West < cfg.East && cfg.East <= 180):
		return nil, fmt.Errorf("need -180 ≤ west < east ≤ 180, got west %v, east %v", cfg.West, cfg.East)
	}
	divs := demoDivisions()
	// Column ranges of the districts, west to east.
	bounds := make([]int, len(divs)+1)
	fifths := 0
	for i, d := range divs {
		fifths += d.share
		bounds[i+1] = cfg.Cols * fifths / 5
	}
	half := func(lo, hi, v int) int { // 0 in the first half of [lo, hi), else 1
		if v < lo+(hi-lo)/2 {
			return 0
		}
		return 1
	}
	var cells []genCell
	counts := map[string]int{}
	for r := range cfg.Rows { // reading order: north to south, west to east
		band := r * 4 / cfg.Rows
		bandLo, bandHi := cfg.Rows*band/4, cfg.Rows*(band+1)/4
		for c := range cfg.Cols {
			di := 0
			for c >= bounds[di+1] {
				di++
			}
			d := divs[di]
			ci := 2*half(bandLo, bandHi, r) + half(bounds[di], bounds[di+1], c)
			street := fmt.Sprintf("%s%03d", d.code, band+1)
			community := fmt.Sprintf("%s%03d", street, ci+1)
			counts[community]++
			n := counts[community]
			if n > 999 {
				return nil, fmt.Errorf("community %s would have more than 999 cells; use fewer rows or columns", community)
			}
			cname := d.streets[band].communities[ci]
			cells = append(cells, genCell{row: r, col: c, props: genProps{
				Code: fmt.Sprintf("%s%03d", community, n), Name: fmt.Sprintf("%s第%03d网格", cname, n), Kind: KindUnit,
				Community: community, CommunityName: cname,
				Street: street, StreetName: d.streets[band].name,
				District: d.code, DistrictName: d.name,
			}})
		}
	}
	slices.SortFunc(cells, func(a, b genCell) int { return strings.Compare(a.props.Code, b.props.Code) })

	// Edges are computed once per grid line so neighbours share exactly the
	// same coordinates, rounded to 1e-7° (about 1 cm).
	edge := func(lo, hi float64, i, n int) string {
		v := lo + (hi-lo)*float64(i)/float64(n)
		return strconv.FormatFloat(math.Round(v*1e7)/1e7, 'f', -1, 64)
	}
	lats := make([]string, cfg.Rows+1) // lats[r] is the northern edge of row r
	for r := range lats {
		lats[r] = edge(cfg.North, cfg.South, r, cfg.Rows)
	}
	lons := make([]string, cfg.Cols+1)
	for c := range lons {
		lons[c] = edge(cfg.West, cfg.East, c, cfg.Cols)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"type":"FeatureCollection","generator":"yihao grid generate --rows %d --cols %d --south %s --west %s --north %s --east %s","features":[`+"\n",
		cfg.Rows, cfg.Cols, ftoa(cfg.South), ftoa(cfg.West), ftoa(cfg.North), ftoa(cfg.East))
	for i, c := range cells {
		props, err := json.Marshal(c.props)
		if err != nil {
			return nil, err
		}
		n, s, w, e := lats[c.row], lats[c.row+1], lons[c.col], lons[c.col+1]
		// Counter-clockwise from the south-west corner (RFC 7946).
		fmt.Fprintf(&b, `{"type":"Feature","properties":%s,"geometry":{"type":"Polygon","coordinates":[[[%s,%s],[%s,%s],[%s,%s],[%s,%s],[%s,%s]]]}}`,
			props, w, s, e, s, e, n, w, n, w, s)
		if i < len(cells)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]}\n")
	return b.Bytes(), nil
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
