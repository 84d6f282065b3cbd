package ticketing

// Level is a tier of the city's grid management (属地管理): the city
// centre, district and street centres, the community work stations under
// streets, and the unit cells (万米单元网格) supervisors patrol. Each
// centre handles its own area first and escalates what it cannot solve.
type Level string

const (
	LevelCity      Level = "city"
	LevelDistrict  Level = "district"
	LevelStreet    Level = "street"
	LevelCommunity Level = "community"
	LevelCell      Level = "cell"
)

// Levels lists the tiers from the top down.
var Levels = []Level{LevelCity, LevelDistrict, LevelStreet, LevelCommunity, LevelCell}

// Label is the Chinese name of the level.
func (l Level) Label() string {
	switch l {
	case LevelCity:
		return "市级"
	case LevelDistrict:
		return "区级"
	case LevelStreet:
		return "街道"
	case LevelCommunity:
		return "社区"
	case LevelCell:
		return "网格"
	}
	return string(l)
}

// Below is the level under l; "" under a cell.
func (l Level) Below() Level {
	for i, x := range Levels[:len(Levels)-1] {
		if x == l {
			return Levels[i+1]
		}
	}
	return ""
}

// At is a's code at level l: "" for the city (it has no code) and where
// the report was not placed that far down.
func (a Area) At(l Level) string {
	switch l {
	case LevelDistrict:
		return a.District
	case LevelStreet:
		return a.Street
	case LevelCommunity:
		return a.Community
	case LevelCell:
		return a.Grid
	}
	return ""
}

// Within reports whether a lies inside the area with the given code at
// any level; every place is within the city (code "").
func (a Area) Within(code string) bool {
	return code == "" || code == a.District || code == a.Street || code == a.Community || code == a.Grid
}
