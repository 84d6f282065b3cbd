package field

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/ticketing"
)

// input is a report as the phone sent it, before it is checked.
type input struct {
	category, text, address string
	location                *ticketing.Point
	photos                  []*media.Photo
	// selfHandled ("yes") reports a problem fixed on the spot (自处置):
	// result says what was done, after are the photos of the fixed site.
	selfHandled, result string
	after               []*media.Photo
}

// jsonReport is the JSON body of a report without photos.
type jsonReport struct {
	Category string   `json:"category"`
	Text     string   `json:"text"`
	Address  string   `json:"address"`
	Lat      *float64 `json:"lat"`
	Lon      *float64 `json:"lon"`
}

// readJSON reads a JSON report strictly: unknown fields, trailing data
// and wrong types are errors naming the problem.
func (s *Server) readJSON(c *gin.Context) (input, error) {
	var in jsonReport
	if err := s.decodeJSON(c, &in); err != nil {
		return input{}, err
	}
	out := input{category: strings.TrimSpace(in.Category), text: strings.TrimSpace(in.Text), address: strings.TrimSpace(in.Address)}
	switch {
	case in.Lat != nil && in.Lon != nil:
		out.location = &ticketing.Point{Lat: *in.Lat, Lon: *in.Lon}
	case in.Lat != nil || in.Lon != nil:
		return out, ticketing.Invalid("lat", "lat and lon go together")
	}
	return out, nil
}

// decodeJSON reads a JSON body into v strictly, within MaxJSONBytes.
func (s *Server) decodeJSON(c *gin.Context, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxJSONBytes))
	if err != nil {
		return httpapi.AsError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf("the body is not the JSON object this route takes: %v", err)
	}
	if dec.More() {
		return errorf("unexpected data after the JSON object")
	}
	return nil
}

// Bounds of a multipart report: its text fields, and the whole body (the
// photos, each re-encoded by media, with room for the fields).
const (
	maxFieldBytes = 16 << 10
	maxPartBytes  = ticketing.MaxAttachments*(media.DefaultMaxBytes+64<<10) + 64<<10
)

// readMultipart reads a multipart report: the fields category, text,
// address, lat and lon, and up to ticketing.MaxAttachments files named
// photos. Every photo is checked and re-encoded before anything is stored.
func (s *Server) readMultipart(c *gin.Context) (input, error) {
	var in input
	var lat, lon string
	fields := map[string]*string{"category": &in.category, "text": &in.text, "address": &in.address, "lat": &lat, "lon": &lon,
		"self_handled": &in.selfHandled, "result": &in.result}
	if err := s.readParts(c, fields, map[string]*[]*media.Photo{"photos": &in.photos, "after": &in.after}, ticketing.MaxAttachments); err != nil {
		return input{}, err
	}
	if lat != "" || lon != "" {
		la, err1 := strconv.ParseFloat(lat, 64)
		lo, err2 := strconv.ParseFloat(lon, 64)
		if err1 != nil || err2 != nil {
			return input{}, ticketing.Invalid("lat", "lat and lon must both be numbers")
		}
		in.location = &ticketing.Point{Lat: la, Lon: lo}
	}
	return in, nil
}

// readParts reads a multipart body: the text fields into fields, the
// files into files by their field's name, at most max of each (any other
// field is refused by name); every photo is checked and re-encoded before
// anything is stored.
func (s *Server) readParts(c *gin.Context, fields map[string]*string, files map[string]*[]*media.Photo, max int) error {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxPartBytes)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return errorf("malformed multipart body: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return partError(err)
		}
		name := part.FormName()
		if photos, ok := files[name]; ok {
			if len(*photos) == max {
				return &ticketing.Error{Kind: ticketing.KindTooLarge, Field: name, Message: "at most " + strconv.Itoa(max) + " photos"}
			}
			p, err := s.Photos.Prepare(part)
			if err != nil {
				return partError(err)
			}
			*photos = append(*photos, p)
			continue
		}
		dst, ok := fields[name]
		if !ok {
			return &ticketing.Error{Kind: ticketing.KindInvalid, Code: "unknown_field", Field: name, Message: "is not a field of this form"}
		}
		b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if err != nil {
			return partError(err)
		}
		if len(b) > maxFieldBytes {
			return &ticketing.Error{Kind: ticketing.KindTooLarge, Field: name, Message: "is over " + strconv.Itoa(maxFieldBytes) + " bytes"}
		}
		*dst = strings.TrimSpace(string(b))
	}
}

// partError keeps the errors that already say what is wrong (a refused
// photo, a body over its bound) and names the rest as a malformed body.
func partError(err error) error {
	var e *ticketing.Error
	var mbe *http.MaxBytesError
	if errors.As(err, &e) || errors.As(err, &mbe) {
		return err
	}
	return errorf("malformed multipart body: %v", err)
}
