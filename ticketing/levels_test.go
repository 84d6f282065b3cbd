package ticketing

import "testing"

func TestLevelsAndAreas(t *testing.T) {
	var down []Level
	for l := LevelCity; l != ""; l = l.Below() {
		down = append(down, l)
	}
	if len(down) != len(Levels) || down[len(down)-1] != LevelCell {
		t.Errorf("walking down from the city: %v", down)
	}
	a := Area{Grid: "110101001001001", Community: "110101001001", Street: "110101001", District: "110101"}
	for l, want := range map[Level]string{LevelCity: "", LevelDistrict: "110101", LevelStreet: "110101001", LevelCommunity: "110101001001", LevelCell: "110101001001001"} {
		if got := a.At(l); got != want {
			t.Errorf("At(%s) = %q, want %q", l, got, want)
		}
	}
	for code, want := range map[string]bool{"": true, "110101": true, "110101001": true, "110101001001001": true, "110102": false, "110101002": false} {
		if a.Within(code) != want {
			t.Errorf("Within(%q) = %v", code, !want)
		}
	}
	if (Area{}).Within("110101") {
		t.Error("a report placed nowhere is within a district")
	}
}
