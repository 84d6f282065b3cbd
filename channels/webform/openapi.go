package webform

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"
)

// openAPIYAML describes the JSON API. openapi_test.go keeps it true: the
// routes, the response structs and real responses are checked against it.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// registerOpenAPI serves the API's OpenAPI document as written (YAML) and
// converted to JSON once, at start-up. Anyone may read it, from any origin,
// so that documentation tools can load it.
func (s *Server) registerOpenAPI(api *gin.RouterGroup) {
	doc, err := openAPIJSON(openAPIYAML)
	if err != nil {
		panic("webform: embedded openapi.yaml: " + err.Error()) // a build defect; the tests catch it
	}
	serve := func(contentType string, body []byte) gin.HandlerFunc {
		return func(c *gin.Context) {
			c.Header("Access-Control-Allow-Origin", "*")
			c.Data(http.StatusOK, contentType, body)
		}
	}
	api.GET("/openapi.yaml", serve("application/yaml", openAPIYAML))
	api.GET("/openapi.json", serve("application/json; charset=utf-8", doc))
}

// openAPIJSON converts the YAML document to JSON.
func openAPIJSON(src []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		return nil, err
	}
	v, err := jsonValue(v)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(v, "", "  ")
}

// jsonValue makes a decoded YAML value encodable as JSON: mapping keys
// become strings (response codes such as 200 may be written unquoted).
func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			e, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			v[k] = e
		}
		return v, nil
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			switch k.(type) {
			case string, int, int64, uint64, bool, float64:
			default:
				return nil, fmt.Errorf("mapping key %v (%T) has no JSON form", k, k)
			}
			e, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = e
		}
		return m, nil
	case []any:
		for i, e := range v {
			e, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			v[i] = e
		}
		return v, nil
	}
	return v, nil
}
