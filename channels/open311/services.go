package open311

import (
	"encoding/xml"
	"net/http"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

type discoveryDoc struct {
	XMLName    xml.Name   `xml:"discovery" json:"-"`
	Changeset  string     `xml:"changeset" json:"changeset"`
	Contact    string     `xml:"contact" json:"contact"`
	KeyService string     `xml:"key_service" json:"key_service"`
	Endpoints  []endpoint `xml:"endpoints>endpoint" json:"endpoints"`
}

type endpoint struct {
	Specification string   `xml:"specification" json:"specification"`
	URL           string   `xml:"url" json:"url"`
	Changeset     string   `xml:"changeset" json:"changeset"`
	Type          string   `xml:"type" json:"type"`
	Formats       []string `xml:"formats>format" json:"formats"`
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request, f format, _ map[string]string) error {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	changeset := s.started.In(s.cfg.Location).Format(time.RFC3339)
	contact := s.cfg.Contact
	if contact == "" {
		contact = "12345 政务服务便民热线"
	}
	s.write(w, f, http.StatusOK, discoveryDoc{
		Changeset: changeset, Contact: contact,
		KeyService: "API keys: ask the hotline centre (yihao token create --role open311)",
		Endpoints: []endpoint{{
			Specification: "http://wiki.open311.org/GeoReport_v2", URL: scheme + "://" + r.Host + s.cfg.Base,
			Changeset: changeset, Type: "production", Formats: []string{"text/xml", "application/json"},
		}},
	})
	return nil
}

type serviceDoc struct {
	Code        string `xml:"service_code" json:"service_code"`
	Name        string `xml:"service_name" json:"service_name"`
	Description string `xml:"description" json:"description"`
	Metadata    bool   `xml:"metadata" json:"metadata"`
	Type        string `xml:"type" json:"type"`
	Keywords    string `xml:"keywords" json:"keywords"`
	Group       string `xml:"group" json:"group"`
}

type servicesXML struct {
	XMLName  xml.Name     `xml:"services"`
	Services []serviceDoc `xml:"service"`
}

func (s *Server) listServices(w http.ResponseWriter, _ *http.Request, f format, _ map[string]string) error {
	out := make([]serviceDoc, 0, len(s.cfg.Services))
	for _, sv := range s.cfg.Services {
		desc := sv.Name
		if sv.Group != "" {
			desc = sv.Group + " · " + sv.Name
		}
		out = append(out, serviceDoc{Code: sv.Code, Name: sv.Name, Description: desc, Metadata: len(sv.Attributes) > 0,
			Type: "realtime", Keywords: strings.Join(sv.Keywords, ","), Group: sv.Group})
	}
	if f == formatJSON {
		s.write(w, f, http.StatusOK, out)
	} else {
		s.write(w, f, http.StatusOK, servicesXML{Services: out})
	}
	return nil
}

type definitionDoc struct {
	XMLName    xml.Name       `xml:"service_definition" json:"-"`
	Code       string         `xml:"service_code" json:"service_code"`
	Attributes []attributeDoc `xml:"attributes>attribute" json:"attributes"`
}

type attributeDoc struct {
	Variable    bool       `xml:"variable" json:"variable"`
	Code        string     `xml:"code" json:"code"`
	Datatype    string     `xml:"datatype" json:"datatype"`
	Required    bool       `xml:"required" json:"required"`
	Hint        string     `xml:"datatype_description" json:"datatype_description"`
	Order       int        `xml:"order" json:"order"`
	Description string     `xml:"description" json:"description"`
	Values      *valuesDoc `xml:"values,omitempty" json:"-"`
	ValuesJSON  []valueDoc `xml:"-" json:"values,omitempty"`
}

type valuesDoc struct {
	Values []valueDoc `xml:"value"`
}

type valueDoc struct {
	Key  string `xml:"key" json:"key"`
	Name string `xml:"name" json:"name"`
}

func (s *Server) serviceDefinition(w http.ResponseWriter, _ *http.Request, f format, p map[string]string) error {
	sv := s.services[p["code"]]
	if sv == nil {
		return &ticketing.Error{Kind: ticketing.KindNotFound, Field: "service_code", Message: "no service " + quote(p["code"])}
	}
	d := definitionDoc{Code: sv.Code, Attributes: make([]attributeDoc, 0, len(sv.Attributes))}
	for i, a := range sv.Attributes {
		ad := attributeDoc{Variable: true, Code: a.Code, Datatype: a.Datatype, Required: a.Required, Hint: a.Hint,
			Order: i + 1, Description: a.Description}
		for _, v := range a.Values {
			ad.ValuesJSON = append(ad.ValuesJSON, valueDoc(v))
		}
		if len(ad.ValuesJSON) > 0 {
			ad.Values = &valuesDoc{Values: ad.ValuesJSON}
		}
		d.Attributes = append(d.Attributes, ad)
	}
	s.write(w, f, http.StatusOK, d)
	return nil
}
