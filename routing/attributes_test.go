package routing_test

import (
	"os"
	"strings"
	"testing"

	"github.com/yihao-city/yihao/routing"
)

func TestCatalogueAttributes(t *testing.T) {
	f, err := os.Open("../configs/city.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cat, err := routing.LoadCatalogue(f)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, l := range cat.Leaves() {
		if l.Code == "0103" {
			found = true
			if len(l.Attributes) == 0 || l.Attributes[0].Code != "cover_state" || !l.Attributes[0].Required ||
				l.Attributes[0].Datatype != "singlevaluelist" || len(l.Keywords) == 0 || l.Group != "公用设施" {
				t.Errorf("leaf 0103 = %+v", l)
			}
		}
	}
	if !found {
		t.Fatal("no leaf 0103 in the demo catalogue")
	}

	const head = "default_deadline: {working_days: 7}\ndepartments: [{code: d, name: D}]\ncategories:\n"
	for _, tc := range []struct{ name, cats, want string }{
		{"unknown datatype", "  - {code: a, name: A, department: d, attributes: [{code: x, description: X, datatype: color}]}\n", "unknown datatype"},
		{"list without values", "  - {code: a, name: A, department: d, attributes: [{code: x, description: X, datatype: singlevaluelist}]}\n", "needs values"},
		{"values on text", "  - {code: a, name: A, department: d, attributes: [{code: x, description: X, datatype: text, values: [{key: k, name: n}]}]}\n", "values belong"},
		{"duplicate code", "  - {code: a, name: A, department: d, attributes: [{code: x, description: X, datatype: text}, {code: x, description: Y, datatype: text}]}\n", "listed twice"},
		{"no description", "  - {code: a, name: A, department: d, attributes: [{code: x, datatype: text}]}\n", "needs a code and a description"},
		{"on a group", "  - {code: g, name: G, department: d, attributes: [{code: x, description: X, datatype: text}], children: [{code: a, name: A}]}\n", "leaf categories"},
	} {
		_, err := routing.LoadCatalogue(strings.NewReader(head + tc.cats))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}
