package webform

import (
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/ticketing"
)

const (
	maxFieldBytes = 32 << 10 // a text field; the description's 4,000 characters fit with room
	// maxFormBytes bounds a whole form: five 10 MB photos plus fields.
	maxFormBytes = (ticketing.MaxAttachments*media.DefaultMaxBytes + 1<<20)
)

// formFields are the report fields the form and the multipart API share.
var formFields = map[string]bool{"text": true, "category": true, "lat": true, "lon": true, "address": true,
	"name": true, "phone": true, "idempotency_key": true}

// readMultipart streams a multipart report: fields are capped one by one and
// each photo is checked as it arrives, so a 30 MB photo or a PDF is refused
// without buffering the request.
func (s *Server) readMultipart(c *gin.Context) (ticketing.Report, []*media.Photo, error) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBytes)
	fields := map[string]string{}
	// report is built from whatever fields have arrived, so a refused form
	// can be shown again with the citizen's words in it.
	report := func() ticketing.Report {
		return ticketing.Report{Text: fields["text"], Category: fields["category"], Address: fields["address"],
			Reporter: ticketing.Contact{Name: fields["name"], Phone: fields["phone"]}, ExternalID: fields["idempotency_key"]}
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return report(), nil, ticketing.Invalid("", "malformed multipart body: %v", err)
	}
	var photos []*media.Photo
	var photoErr error // the first refused photo; later fields are still read
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return report(), nil, multipartError(err)
		}
		name := part.FormName()
		switch {
		case name == "photos":
			if part.FileName() == "" || photoErr != nil {
				continue // an empty file input, or photos after a refused one
			}
			if len(photos) == ticketing.MaxAttachments {
				photoErr = &ticketing.Error{Kind: ticketing.KindTooLarge, Field: "photos", Message: "at most " + itoa(ticketing.MaxAttachments) + " photos"}
				continue
			}
			p, err := s.photos.Prepare(part)
			if err != nil {
				photoErr = multipartError(err)
				continue
			}
			photos = append(photos, p)
		case formFields[name]:
			v, err := readField(part)
			if err != nil {
				return report(), nil, err
			}
			fields[name] = v
		default:
			return report(), nil, &ticketing.Error{Kind: ticketing.KindInvalid, Code: "unknown_field", Field: name, Message: "is not a field of a report"}
		}
	}
	r := report()
	if photoErr != nil {
		return r, nil, photoErr
	}
	lat, lon := strings.TrimSpace(fields["lat"]), strings.TrimSpace(fields["lon"])
	if lat != "" || lon != "" {
		la, err1 := strconv.ParseFloat(lat, 64)
		lo, err2 := strconv.ParseFloat(lon, 64)
		if err1 != nil {
			return r, nil, ticketing.Invalid("lat", "must be a number")
		}
		if err2 != nil {
			return r, nil, ticketing.Invalid("lon", "must be a number")
		}
		r.Location = &ticketing.Point{Lat: la, Lon: lo}
	}
	return r, photos, nil
}

func readField(p *multipart.Part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
	if err != nil {
		return "", multipartError(err)
	}
	if len(b) > maxFieldBytes {
		return "", &ticketing.Error{Kind: ticketing.KindTooLarge, Field: p.FormName(), Message: "field is over " + itoa(maxFieldBytes) + " bytes"}
	}
	return string(b), nil
}

func multipartError(err error) error {
	var e *ticketing.Error
	var mbe *http.MaxBytesError
	if errors.As(err, &e) || errors.As(err, &mbe) {
		return err
	}
	return ticketing.Invalid("", "malformed multipart body: %v", err)
}

func (s *Server) categories() []Category {
	if s.cfg.Categories == nil {
		return nil
	}
	return s.cfg.Categories()
}

// formData fills the form template.
type formData struct {
	City       string
	Categories []Category
	Key        string
	Error      string
	Field      string
	Values     map[string]string
}

func (s *Server) formPage(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	s.render(c, http.StatusOK, "form.html", formData{City: s.cfg.City, Categories: s.categories(), Key: newFormKey()})
}

// postForm is the form's POST: on success it redirects to the tracking
// page (so a reload does not post again); on error it shows the form again
// with the citizen's text kept and the problem named.
func (s *Server) postForm(c *gin.Context) {
	fail := func(err error, r ticketing.Report, key string) {
		e := s.logged(c, err)
		// Read what is left (up to the form limit) so the browser receives the
		// answer instead of a reset connection mid-upload.
		_, _ = io.Copy(io.Discard, c.Request.Body)
		if key == "" {
			key = newFormKey()
		}
		vals := map[string]string{"text": r.Text, "address": r.Address, "category": r.Category, "name": r.Reporter.Name, "phone": r.Reporter.Phone}
		s.render(c, httpapi.Status(e.Kind), "form.html", formData{City: s.cfg.City, Categories: s.categories(), Key: key,
			Error: citizenMessage(e), Field: e.Field, Values: vals})
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBytes)
	if err := s.allow(c); err != nil {
		fail(err, ticketing.Report{}, "")
		return
	}
	r, photos, err := s.readMultipart(c)
	if err != nil {
		fail(err, r, r.ExternalID)
		return
	}
	key := r.ExternalID
	if !validKey(key) {
		key = newFormKey() // no usable key: this post stands alone
	}
	r.Channel, r.ExternalID = ticketing.ChannelWeb, "form:"+key
	t, _, err := s.submit(c.Request.Context(), r, photos)
	if err != nil {
		fail(err, r, key)
		return
	}
	c.Redirect(http.StatusSeeOther, trackURL(t)+"&new=1")
}

// trackLookup sends the lookup form (number + code) to the tracking page.
func (s *Server) trackLookup(c *gin.Context) {
	number, token := strings.TrimSpace(c.Query("number")), strings.TrimSpace(c.Query("token"))
	if number == "" {
		s.render(c, http.StatusOK, "lookup.html", nil)
		return
	}
	if !ticketing.ValidNumber(number) {
		s.render(c, http.StatusNotFound, "notfound.html", nil)
		return
	}
	c.Redirect(http.StatusSeeOther, "/t/"+number+"?token="+url.QueryEscape(token))
}

type trackData struct {
	T        *ticketing.Ticket
	Events   []ticketing.Event
	New      bool
	Link     string
	Priority string
	Rated    bool // the citizen's rating was just recorded
}

func (s *Server) trackPage(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	t, evs, err := s.tickets.Track(c.Request.Context(), c.Param("number"), c.Query("token"))
	if err != nil {
		s.citizenError(c, err, citizenMessage)
		return
	}
	// Only its digest is stored: the page shows the token the link carried.
	t.TrackToken = c.Query("token")
	s.render(c, http.StatusOK, "track.html", trackData{T: t, Events: evs, New: c.Query("new") == "1", Rated: c.Query("rated") == "1", Link: trackURL(t)})
}

// postRating is POST /t/{number}/rate: the citizen's 1–5 rating of a
// finished ticket from its tracking page (token, score, comment).
func (s *Server) postRating(c *gin.Context) {
	number, token := c.Param("number"), c.PostForm("token")
	score, err := strconv.Atoi(c.PostForm("score"))
	if err != nil {
		score = 0 // refused by Rate, naming the score
	}
	if _, err := s.tickets.Rate(c.Request.Context(), number, token, "citizen:web", score, c.PostForm("comment")); err != nil {
		s.citizenError(c, err, ratingMessage)
		return
	}
	c.Redirect(http.StatusSeeOther, "/t/"+number+"?token="+url.QueryEscape(token)+"&rated=1")
}

// citizenError answers a tracking-page request that failed: the not-found
// page (a wrong number and a wrong token look the same), else the error
// page with what message says of it.
func (s *Server) citizenError(c *gin.Context, err error, message func(*ticketing.Error) string) {
	e := s.logged(c, err)
	if e.Kind == ticketing.KindNotFound {
		s.render(c, http.StatusNotFound, "notfound.html", nil)
		return
	}
	s.render(c, httpapi.Status(e.Kind), "error.html", message(e))
}

func (s *Server) render(c *gin.Context, status int, name string, data any) {
	c.Status(status)
	c.Header("Content-Type", "text/html; charset=utf-8")
	if err := s.tmpl.ExecuteTemplate(c.Writer, name, data); err != nil {
		s.log.Error("render", "template", name, "err", err)
	}
}

// ratingMessage tells the citizen why a rating was not taken.
func ratingMessage(e *ticketing.Error) string {
	switch {
	case e.Field == "score":
		return "请选择 1 到 5 分的评价。"
	case e.Field == "comment":
		return "评价内容不能超过" + strconv.Itoa(ticketing.MaxCommentRunes) + "字。"
	case e.Code == "already_evaluated":
		return "该工单已评价，感谢您的反馈。"
	case e.Kind == ticketing.KindConflict:
		return "工单尚未办结，办结后才能评价。"
	}
	return citizenMessage(e)
}
