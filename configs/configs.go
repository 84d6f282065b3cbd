// Package configs holds the demo city, embedded so that the binary runs
// with no files beside it. A deployment points YIHAO_CATALOGUE at its own.
package configs

import _ "embed"

// DemoCatalogue is the demo city's dispatch catalogue (city.yaml).
//
//go:embed city.yaml
var DemoCatalogue []byte

// DemoGrid is the demo city's generated unit grid (`yihao grid generate`).
//
//go:embed grid/demo.geojson
var DemoGrid []byte

// DemoGazetteer places the demo city's addresses on its grid.
//
//go:embed grid/gazetteer.yaml
var DemoGazetteer []byte

// DemoModel is the classifier trained on classifier/train.csv
// (`yihao classify train`).
//
//go:embed classifier/demo.model
var DemoModel []byte

// DemoSynonyms are the words the knowledge base's search folds together
// (kb/synonyms.yaml).
//
//go:embed kb/synonyms.yaml
var DemoSynonyms []byte

// DemoKnowledge is the demo city's knowledge base (kb/demo.yaml), put in
// an empty store at start when the configuration asks for it (kb_seed:
// demo).
//
//go:embed kb/demo.yaml
var DemoKnowledge []byte
