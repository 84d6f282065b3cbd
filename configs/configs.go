// Package configs holds the demo city, embedded so that the binary runs
// with no files beside it. A deployment points YIHAO_CATALOGUE at its own.
package configs

import _ "embed"

// DemoCatalogue is the demo city's dispatch catalogue (city.yaml).
//
//go:embed city.yaml
var DemoCatalogue []byte
