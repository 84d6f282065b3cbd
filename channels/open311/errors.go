package open311

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/ticketing"
)

func itoa(n int) string { return strconv.Itoa(n) }

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

// statusOf is the JSON API's table (httpapi.Status) where GeoReport v2
// names nothing else. It names 400 (bad or missing parameter), 403
// (api_key) and 404 (unknown jurisdiction, service or request): a text
// over a limit is a bad parameter here, not a 413, and a missing key 403.
func statusOf(k ticketing.Kind) int {
	switch k {
	case ticketing.KindTooLarge:
		return http.StatusBadRequest
	case ticketing.KindUnauthorized:
		return http.StatusForbidden
	}
	return httpapi.Status(k)
}

// apiError is one element of an error answer.
type apiError struct {
	Code        int    `xml:"code" json:"code"`
	Description string `xml:"description" json:"description"`
}

type errorsXML struct {
	XMLName xml.Name   `xml:"errors"`
	Errors  []apiError `xml:"error"`
}

// fail answers err in the request's format with the matching status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, f format, err error) {
	e := httpapi.Logged(w, r, s.log, err)
	desc := e.Message
	if desc == "" {
		desc = e.Kind.String()
	}
	if e.Field != "" && e.Kind != ticketing.KindInternal {
		desc = e.Field + ": " + desc
	}
	status := statusOf(e.Kind)
	ae := apiError{Code: status, Description: desc}
	if f == formatJSON {
		s.write(w, f, status, []apiError{ae})
		return
	}
	s.write(w, f, status, errorsXML{Errors: []apiError{ae}})
}

// write encodes v (a list for JSON; its XML wrapper for XML).
func (s *Server) write(w http.ResponseWriter, f format, status int, v any) {
	var (
		b   []byte
		err error
	)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if f == formatJSON {
		h.Set("Content-Type", "application/json; charset=utf-8")
		b, err = json.Marshal(v)
	} else {
		h.Set("Content-Type", "text/xml; charset=utf-8")
		b, err = xml.Marshal(v)
		b = append([]byte(xml.Header), b...)
	}
	if err != nil {
		s.log.Error("open311: encoding the answer", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client went away
}
