package open311_test

import (
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Our GeoReport v2 schemas take a well-formed answer of each kind and refuse
// each way of breaking it, so an answer that validates against them has the
// specification's fields, types and values.
func TestOurSchemas(t *testing.T) {
	sch := loadSchemas(t)
	const at = `"2026-11-25T09:30:00+08:00"`
	cases := []struct {
		schema *schema
		good   string
		bad    map[string]string // why → answer
	}{
		{sch.requests,
			`[{"service_request_id":"2611250001","status":"open","status_notes":null,"service_name":"井盖","service_code":"0103",` +
				`"description":"井盖缺失","agency_responsible":"市政","service_notice":"","requested_datetime":` + at + `,` +
				`"updated_datetime":` + at + `,"expected_datetime":null,"address":"南池子大街","address_id":null,"zipcode":"100006",` +
				`"lat":39.9,"long":116.4,"media_url":"https://photos.example.com/p/1.jpg","extended_attributes":{"channel":"web"}}]`,
			map[string]string{
				"a numeric id":             `[{"service_request_id":1,"status":"open","service_code":"x","requested_datetime":` + at + `}]`,
				"a status not open/closed": `[{"service_request_id":"1","status":"pending","service_code":"x","requested_datetime":` + at + `}]`,
				"a date that is not one":   `[{"service_request_id":"1","status":"open","service_code":"x","requested_datetime":"yesterday"}]`,
				"a date without its zone":  `[{"service_request_id":"1","status":"open","service_code":"x","requested_datetime":"2026-11-25T09:30:00"}]`,
				"no service code":          `[{"service_request_id":"1","status":"closed","requested_datetime":` + at + `}]`,
				"no status":                `[{"service_request_id":"1","service_code":"x","requested_datetime":` + at + `}]`,
				"a latitude as text":       `[{"service_request_id":"1","status":"open","service_code":"x","requested_datetime":` + at + `,"lat":"39.9"}]`,
				"a latitude off the earth": `[{"service_request_id":"1","status":"open","service_code":"x","requested_datetime":` + at + `,"lat":139.9}]`,
				"a misspelt field":         `[{"service_request_id":"1","status":"open","service_code":"x","requested_datetime":` + at + `,"adress":"x"}]`,
				"an object, not a list":    `{"service_request_id":"1","status":"open","service_code":"x","requested_datetime":` + at + `}`,
			}},
		{sch.services,
			`[{"service_code":"0103","service_name":"井盖","description":"","metadata":true,"type":"realtime","keywords":"井盖","group":"公用设施"}]`,
			map[string]string{
				"an unknown type":       `[{"service_code":"0103","service_name":"井盖","metadata":true,"type":"instant"}]`,
				"metadata as text":      `[{"service_code":"0103","service_name":"井盖","metadata":"true","type":"realtime"}]`,
				"no service code":       `[{"service_name":"井盖","metadata":false,"type":"batch"}]`,
				"an empty service code": `[{"service_code":"","service_name":"井盖","metadata":false,"type":"blackbox"}]`,
			}},
		{sch.definition,
			`{"service_code":"0103","attributes":[{"variable":true,"code":"cover_state","datatype":"singlevaluelist","required":true,` +
				`"datatype_description":"","order":1,"description":"井盖的状态","values":[{"key":"missing","name":"缺失"}]},` +
				`{"variable":true,"code":"landmark","datatype":"string","required":false,"datatype_description":"","order":2,"description":"附近的标志"}]}`,
			map[string]string{
				"an unknown datatype":       `{"service_code":"0103","attributes":[{"variable":true,"code":"a","datatype":"boolean","required":true,"order":1,"description":"d"}]}`,
				"a list without values":     `{"service_code":"0103","attributes":[{"variable":true,"code":"a","datatype":"multivaluelist","required":true,"order":1,"description":"d"}]}`,
				"a value without a key":     `{"service_code":"0103","attributes":[{"variable":true,"code":"a","datatype":"singlevaluelist","required":true,"order":1,"description":"d","values":[{"name":"n"}]}]}`,
				"required as text":          `{"service_code":"0103","attributes":[{"variable":true,"code":"a","datatype":"text","required":"yes","order":1,"description":"d"}]}`,
				"an order that is not":      `{"service_code":"0103","attributes":[{"variable":true,"code":"a","datatype":"number","required":true,"order":1.5,"description":"d"}]}`,
				"no attributes":             `{"service_code":"0103"}`,
				"an attribute with no code": `{"service_code":"0103","attributes":[{"variable":true,"datatype":"datetime","required":true,"order":1,"description":"d"}]}`,
			}},
		{sch.postAnswers,
			`[{"service_request_id":"2611250001","token":"tk","service_notice":"7 个工作日内办结"}]`,
			map[string]string{
				"neither id nor token": `[{"service_notice":"x"}]`,
				"both empty":           `[{"service_request_id":"","token":""}]`,
				"an empty list":        `[]`,
				"a numeric id":         `[{"service_request_id":2611250001}]`,
			}},
		{sch.tokens,
			`[{"service_request_id":"2611250001","token":"tk"}]`,
			map[string]string{
				"no token":     `[{"service_request_id":"2611250001"}]`,
				"a numeric id": `[{"service_request_id":2611250001,"token":"tk"}]`,
			}},
		{sch.errors,
			`[{"code":404,"description":"service_request_id not found"}]`,
			map[string]string{
				"a code as text":    `[{"code":"404","description":"not found"}]`,
				"a code not HTTP's": `[{"code":42,"description":"not found"}]`,
				"no description":    `[{"code":400}]`,
				"no error at all":   `[]`,
			}},
	}
	parse := func(s string) any {
		t.Helper()
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
		if err != nil {
			t.Fatalf("%v: %s", err, s)
		}
		return v
	}
	for _, c := range cases {
		if err := c.schema.ours.Validate(parse(c.good)); err != nil {
			t.Errorf("%s refuses a well-formed answer: %v", c.schema.name, err)
		}
		for why, bad := range c.bad {
			if c.schema.ours.Validate(parse(bad)) == nil {
				t.Errorf("%s accepts %s: %s", c.schema.name, why, bad)
			}
		}
	}
}
