package open311

import (
	"context"
	"encoding/xml"
	"errors"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yihao-city/yihao/ticketing"
)

// What an Open311 report carries beyond a Report's fields (attribute
// answers, media_url, address_id) is kept in the ticket text, below the
// citizen's description, after this line: staff read it there, and the
// listing answers only the description (and media_url) back. The email goes
// to the contact, where liaisons see it masked; device_id and account_id
// are checked and not kept: handling a report needs neither.
const trailerMark = "\n\n——Open311——\n"

const (
	mediaLabel    = "图片链接"
	maxAttrString = 200
	maxAttrText   = 1000
	maxKeyLen     = 100
	// maxRange is the longest date range a listing covers, and the default one.
	maxRange  = 90 * 24 * time.Hour
	listLimit = 1000
	// submitTimeout bounds one report's write once its request has been read.
	submitTimeout = 15 * time.Second
)

// htmlRE finds markup: a tag, a closing tag, a comment or a doctype.
var htmlRE = regexp.MustCompile(`<\s*/?\s*[A-Za-z][^<>]*>|<!--|<!\s*[A-Za-z]`)

func hasHTML(s string) bool { return htmlRE.MatchString(s) }

// splitText parts a ticket's text into the citizen's description and the
// media URL kept in the trailer.
func splitText(text string) (desc, media string) {
	i := strings.LastIndex(text, trailerMark)
	if i < 0 {
		return text, ""
	}
	for _, line := range strings.Split(text[i+len(trailerMark):], "\n") {
		if v, ok := strings.CutPrefix(line, mediaLabel+"："); ok {
			media = v
			break
		}
	}
	return text[:i], media
}

type postAnswer struct {
	ID     string `xml:"service_request_id" json:"service_request_id"`
	Token  string `xml:"token" json:"token"`
	Notice string `xml:"service_notice,omitempty" json:"service_notice,omitempty"`
}

type postAnswerXML struct {
	XMLName  xml.Name     `xml:"service_requests"`
	Requests []postAnswer `xml:"request"`
}

// clientKey reads the client's idempotency key: the Idempotency-Key header
// or attribute[client_id].
func clientKey(r *http.Request) (string, error) {
	k := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	field := "Idempotency-Key"
	if k == "" {
		k, field = param(r, "attribute[client_id]"), "attribute[client_id]"
	}
	if k == "" {
		return "", nil
	}
	if len(k) > maxKeyLen || strings.IndexFunc(k, func(c rune) bool {
		return !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-')
	}) >= 0 {
		return "", ticketing.Invalid(field, "must be 1 to %d of A-Z a-z 0-9 . _ ~ -", maxKeyLen)
	}
	return k, nil
}

// postRequest is POST requests: a citizen's report from an Open311 client.
func (s *Server) postRequest(w http.ResponseWriter, r *http.Request, f format, _ map[string]string) error {
	tok, err := s.client(r)
	if err != nil {
		return err
	}
	rep, err := s.readReport(r)
	if err != nil {
		return err
	}
	key, err := clientKey(r)
	if err != nil {
		return err
	}
	if key == "" {
		key = newKey()
	}
	// Every request's key names the api_key that sent it: only that key
	// may later update or reopen it (owns).
	rep.ExternalID = keyPrefix(tok) + key
	// Once the request is read the write must not be cut in half by the
	// client leaving: it runs on a context of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), submitTimeout)
	defer cancel()
	t, created, err := s.tickets.Submit(ctx, rep)
	s.metrics.Report(ticketing.ChannelOpen311, created, err)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	a := postAnswer{ID: t.Number, Token: t.ExternalID, Notice: notice(t)}
	if f == formatJSON {
		s.write(w, f, status, []postAnswer{a})
	} else {
		s.write(w, f, status, postAnswerXML{Requests: []postAnswer{a}})
	}
	return nil
}

// notice tells the client what happens next.
func notice(t *ticketing.Ticket) string {
	n := "已受理，工单号" + t.Number
	if t.DepartmentName != "" && t.Status == ticketing.StatusDispatched {
		n += "，已派遣至" + t.DepartmentName
		if !t.DueAt.IsZero() {
			n += "，办理时限" + t.DueAt.Format("2006-01-02 15:04")
		}
	} else if t.Status == ticketing.StatusMerged {
		n += "，已与相同问题的工单合并办理"
	} else {
		n += "，等待派单"
	}
	return n
}

// readReport turns the form into a Report, checking what GeoReport v2 and
// this city's service definitions ask; Submit checks the rest.
func (s *Server) readReport(r *http.Request) (ticketing.Report, error) {
	rep := ticketing.Report{Channel: ticketing.ChannelOpen311}
	code := param(r, "service_code")
	if code == "" {
		return rep, ticketing.Invalid("service_code", "is required")
	}
	sv := s.services[code]
	if sv == nil {
		return rep, ticketing.Invalid("service_code", "%s is not a service of this endpoint (see services.xml)", quote(code))
	}
	rep.Category = code

	desc := param(r, "description")
	if desc == "" {
		return rep, ticketing.Invalid("description", "is required")
	}
	if n := utf8.RuneCountInString(desc); n > ticketing.MaxTextRunes {
		return rep, &ticketing.Error{Kind: ticketing.KindTooLarge, Field: "description",
			Message: "is " + itoa(n) + " characters; the limit is " + itoa(ticketing.MaxTextRunes)}
	}
	if hasHTML(desc) {
		return rep, ticketing.Invalid("description", "must be plain text, not HTML")
	}
	if strings.Contains(desc, strings.TrimSpace(trailerMark)) {
		return rep, ticketing.Invalid("description", "must not contain %q", strings.TrimSpace(trailerMark))
	}

	lat, lon := param(r, "lat"), param(r, "long")
	addr, addrID := param(r, "address_string"), param(r, "address_id")
	switch {
	case lat != "" && lon != "":
		la, err1 := strconv.ParseFloat(lat, 64)
		lo, err2 := strconv.ParseFloat(lon, 64)
		if err1 != nil || math.IsNaN(la) || math.IsInf(la, 0) {
			return rep, ticketing.Invalid("lat", "must be a number")
		}
		if err2 != nil || math.IsNaN(lo) || math.IsInf(lo, 0) {
			return rep, ticketing.Invalid("long", "must be a number")
		}
		rep.Location = &ticketing.Point{Lat: la, Lon: lo}
	case lat != "" || lon != "":
		return rep, ticketing.Invalid("lat", "lat and long go together")
	case addr == "" && addrID == "":
		return rep, ticketing.Invalid("location", "give lat and long, address_string or address_id")
	}
	if hasHTML(addr) {
		return rep, ticketing.Invalid("address_string", "must be plain text, not HTML")
	}
	rep.Address = addr
	if rep.Address == "" && addrID != "" {
		rep.Address = "地址编号 " + addrID
	}

	var trailer []string
	for _, a := range sv.Attributes {
		vals := attributeValues(r.PostForm, a.Code)
		if len(vals) == 0 {
			if a.Required {
				return rep, ticketing.Invalid("attribute["+a.Code+"]", "is required (%s)", a.Description)
			}
			continue
		}
		shown, err := checkAttribute(a, vals)
		if err != nil {
			return rep, err
		}
		trailer = append(trailer, a.Description+"："+shown)
	}
	if m := param(r, "media_url"); m != "" {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(m) > 2000 || strings.ContainsAny(m, " \n\r\t") {
			return rep, ticketing.Invalid("media_url", "must be an http or https URL")
		}
		trailer = append(trailer, mediaLabel+"："+m)
	}
	if addrID != "" {
		trailer = append(trailer, "地址编号："+addrID)
	}
	for _, name := range []string{"device_id", "account_id"} {
		if v := param(r, name); utf8.RuneCountInString(v) > 128 {
			return rep, ticketing.Invalid(name, "must be at most 128 characters")
		}
	}
	rep.Text = desc
	if len(trailer) > 0 {
		rep.Text += trailerMark + strings.Join(trailer, "\n")
		if n := utf8.RuneCountInString(rep.Text); n > ticketing.MaxTextRunes {
			return rep, &ticketing.Error{Kind: ticketing.KindTooLarge, Field: "description",
				Message: "the description with the attribute answers is " + itoa(n) + " characters; the limit is " + itoa(ticketing.MaxTextRunes)}
		}
	}
	rep.Reporter = ticketing.Contact{Name: fullName(param(r, "first_name"), param(r, "last_name")), Phone: param(r, "phone"), Email: param(r, "email")}
	if hasHTML(rep.Reporter.Name) {
		return rep, ticketing.Invalid("first_name", "must be plain text")
	}
	return rep, nil
}

// attributeValues reads attribute[code] (repeated for multivaluelist) and attribute[code][].
func attributeValues(form url.Values, code string) []string {
	var out []string
	for _, k := range []string{"attribute[" + code + "]", "attribute[" + code + "][]"} {
		for _, v := range form[k] {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// checkAttribute validates an answer against the attribute's datatype and
// says it in words for the ticket text.
func checkAttribute(a Attribute, vals []string) (string, error) {
	field := "attribute[" + a.Code + "]"
	if a.Datatype != "multivaluelist" && len(vals) > 1 {
		return "", ticketing.Invalid(field, "takes one value")
	}
	v := vals[0]
	for _, x := range vals {
		if hasHTML(x) {
			return "", ticketing.Invalid(field, "must be plain text")
		}
	}
	switch a.Datatype {
	case "number":
		if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "", ticketing.Invalid(field, "must be a number")
		}
	case "datetime":
		if _, err := parseTime(field, v); err != nil {
			return "", err
		}
	case "string":
		if utf8.RuneCountInString(v) > maxAttrString {
			return "", ticketing.Invalid(field, "must be at most %d characters", maxAttrString)
		}
	case "text":
		if utf8.RuneCountInString(v) > maxAttrText {
			return "", ticketing.Invalid(field, "must be at most %d characters", maxAttrText)
		}
	case "singlevaluelist", "multivaluelist":
		var names []string
		for _, x := range vals {
			i := slices.IndexFunc(a.Values, func(val Value) bool { return val.Key == x })
			if i < 0 {
				keys := make([]string, len(a.Values))
				for j, val := range a.Values {
					keys[j] = val.Key
				}
				return "", ticketing.Invalid(field, "%s is not one of %s", quote(x), strings.Join(keys, ", "))
			}
			names = append(names, a.Values[i].Name)
		}
		return strings.Join(names, "、"), nil
	}
	return strings.Join(vals, "、"), nil
}

// fullName joins the name parts: "John Smith", but 张三 for Chinese names.
func fullName(first, last string) string {
	switch {
	case first == "":
		return last
	case last == "":
		return first
	}
	ascii := func(s string) bool { return strings.IndexFunc(s, func(c rune) bool { return c > 0x7f }) < 0 }
	if ascii(first) && ascii(last) {
		return first + " " + last
	}
	return last + first
}

// requestDoc is one service request as listed.
type requestDoc struct {
	ID          string   `xml:"service_request_id" json:"service_request_id"`
	Status      string   `xml:"status" json:"status"`
	StatusNotes string   `xml:"status_notes,omitempty" json:"status_notes,omitempty"`
	ServiceName string   `xml:"service_name,omitempty" json:"service_name,omitempty"`
	ServiceCode string   `xml:"service_code" json:"service_code"`
	Description string   `xml:"description,omitempty" json:"description,omitempty"`
	Agency      string   `xml:"agency_responsible,omitempty" json:"agency_responsible,omitempty"`
	Notice      string   `xml:"service_notice,omitempty" json:"service_notice,omitempty"`
	Requested   string   `xml:"requested_datetime" json:"requested_datetime"`
	Updated     string   `xml:"updated_datetime,omitempty" json:"updated_datetime,omitempty"`
	Expected    string   `xml:"expected_datetime,omitempty" json:"expected_datetime,omitempty"`
	Address     string   `xml:"address,omitempty" json:"address,omitempty"`
	Lat         *float64 `xml:"lat,omitempty" json:"lat,omitempty"`
	Long        *float64 `xml:"long,omitempty" json:"long,omitempty"`
	MediaURL    string   `xml:"media_url,omitempty" json:"media_url,omitempty"`
}

type requestsXML struct {
	XMLName  xml.Name     `xml:"service_requests"`
	Requests []requestDoc `xml:"request"`
}

// openOf is GeoReport's status: open while anyone still has work to do.
func openOf(st ticketing.Status) string {
	if st.Open() {
		return "open"
	}
	return "closed"
}

func (s *Server) when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.cfg.Location).Format(time.RFC3339)
}

// doc renders a ticket; notes is its latest public note.
func (s *Server) doc(t *ticketing.Ticket, notes string) requestDoc {
	desc, media := splitText(t.Text)
	d := requestDoc{ID: t.Number, Status: openOf(t.Status), StatusNotes: notes, ServiceName: t.CategoryName,
		ServiceCode: t.Category, Description: desc, Agency: t.DepartmentName, Requested: s.when(t.ReceivedAt),
		Updated: s.when(t.UpdatedAt), Expected: s.when(t.DueAt), Address: t.Address, MediaURL: media}
	if sv := s.services[t.Category]; sv != nil && d.ServiceName == "" {
		d.ServiceName = sv.Name
	}
	if !t.Status.Open() {
		d.Expected = ""
	}
	if t.Location != nil {
		lat, lon := t.Location.Lat, t.Location.Lon
		d.Lat, d.Long = &lat, &lon
	}
	return d
}

func (s *Server) writeRequests(w http.ResponseWriter, f format, docs []requestDoc) {
	if docs == nil {
		docs = []requestDoc{}
	}
	if f == formatJSON {
		s.write(w, f, http.StatusOK, docs)
	} else {
		s.write(w, f, http.StatusOK, requestsXML{Requests: docs})
	}
}

// writeListing answers tickets with their latest public notes, read for
// the whole listing in one query.
func (s *Server) writeListing(ctx context.Context, w http.ResponseWriter, f format, ts []*ticketing.Ticket) error {
	ids := make([]int64, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	notes, err := s.records.LatestPublic(ctx, ids)
	if err != nil {
		return err
	}
	docs := make([]requestDoc, 0, len(ts))
	for _, t := range ts {
		docs = append(docs, s.doc(t, notes[t.ID]))
	}
	s.writeRequests(w, f, docs)
	return nil
}

// getRequests is GET requests: by ids, or by service_code, status and dates.
func (s *Server) getRequests(w http.ResponseWriter, r *http.Request, f format, _ map[string]string) error {
	filter := ticketing.ListFilter{Channel: s.channel(), Limit: listLimit}
	if ids := param(r, "service_request_id"); ids != "" {
		filter.Numbers = []string{}
		for _, id := range strings.Split(ids, ",") {
			if id = strings.TrimSpace(id); ticketing.ValidNumber(id) {
				filter.Numbers = append(filter.Numbers, id)
			}
		}
	} else {
		from, to, err := s.window(r)
		if err != nil {
			return err
		}
		filter.From, filter.To = from, to
		if codes := param(r, "service_code"); codes != "" {
			for _, c := range strings.Split(codes, ",") {
				if c = strings.TrimSpace(c); c != "" {
					filter.Categories = append(filter.Categories, c)
				}
			}
		}
		if st := param(r, "status"); st != "" {
			var open, closed bool
			for _, v := range strings.Split(st, ",") {
				switch strings.ToLower(strings.TrimSpace(v)) {
				case "open":
					open = true
				case "closed":
					closed = true
				default:
					return ticketing.Invalid("status", "%s: use open, closed or both (comma separated)", quote(v))
				}
			}
			if open != closed {
				filter.Open = &open
			}
		}
	}
	ts, err := s.records.List(r.Context(), filter)
	if err != nil {
		return err
	}
	return s.writeListing(r.Context(), w, f, ts)
}

// getRequest is GET requests/{id} (and request/{id}): a list of one.
func (s *Server) getRequest(w http.ResponseWriter, r *http.Request, f format, p map[string]string) error {
	notFound := &ticketing.Error{Kind: ticketing.KindNotFound, Field: "service_request_id", Message: "no service request " + quote(p["id"])}
	t, err := s.tickets.Ticket(r.Context(), p["id"])
	if errors.Is(err, ticketing.ErrNotFound) || (err == nil && !s.visible(t)) {
		return notFound
	}
	if err != nil {
		return err
	}
	return s.writeListing(r.Context(), w, f, []*ticketing.Ticket{t})
}

type tokenDoc struct {
	ID    string `xml:"service_request_id" json:"service_request_id"`
	Token string `xml:"token" json:"token"`
}

type tokensXML struct {
	XMLName  xml.Name   `xml:"service_requests"`
	Requests []tokenDoc `xml:"request"`
}

// getToken is GET tokens/{token}: the request a POST's token became.
func (s *Server) getToken(w http.ResponseWriter, r *http.Request, f format, p map[string]string) error {
	tok := p["token"]
	t, err := s.records.ByExternalID(r.Context(), ticketing.ChannelOpen311, tok)
	if errors.Is(err, ticketing.ErrNotFound) || tok == "" {
		return &ticketing.Error{Kind: ticketing.KindNotFound, Field: "token", Message: "no service request has this token"}
	}
	if err != nil {
		return err
	}
	d := tokenDoc{ID: t.Number, Token: tok}
	if f == formatJSON {
		s.write(w, f, http.StatusOK, []tokenDoc{d})
	} else {
		s.write(w, f, http.StatusOK, tokensXML{Requests: []tokenDoc{d}})
	}
	return nil
}

// parseTime reads an ISO 8601 date-time with a zone.
func parseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		// 2026-11-25T09:30+08:00 (no seconds) is ISO 8601 too.
		if t2, err2 := time.Parse("2006-01-02T15:04Z07:00", v); err2 == nil {
			return t2, nil
		}
		return time.Time{}, ticketing.Invalid(field, "%s is not an ISO 8601 date-time with a zone, e.g. 2026-11-25T09:30:00+08:00", quote(v))
	}
	return t, nil
}

// window reads start_date and end_date: by default the last 90 days; one
// given alone extends 90 days from it; the range may not exceed 90 days.
func (s *Server) window(r *http.Request) (from, to time.Time, err error) {
	sv, ev := param(r, "start_date"), param(r, "end_date")
	if sv != "" {
		if from, err = parseTime("start_date", sv); err != nil {
			return
		}
	}
	if ev != "" {
		if to, err = parseTime("end_date", ev); err != nil {
			return
		}
	}
	switch {
	case sv == "" && ev == "":
		to = s.now()
		from = to.Add(-maxRange)
	case ev == "":
		to = from.Add(maxRange)
	case sv == "":
		from = to.Add(-maxRange)
	}
	if to.Before(from) {
		return from, to, ticketing.Invalid("end_date", "is before start_date")
	}
	if to.Sub(from) > maxRange {
		return from, to, ticketing.Invalid("end_date", "the range from start_date may be at most 90 days")
	}
	// end_date is inclusive; stores keep microseconds.
	return from, to.Add(time.Microsecond), nil
}
