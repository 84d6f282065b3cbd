package hotline

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/yihao-city/yihao/ticketing"
)

// Line is one of the merged hotline numbers (12345, 12319 城建, 96310
// 交通, 12315 消费者, ...): all ring the same agents, each keeps its label,
// the skill it needs and its category domain. Tickets carry their line, and
// the dispatch catalogue's rules match on it; the domain is shown to the
// agent as the likely category.
type Line struct {
	Number string   // what callers dial: 12345
	Label  string   // 12345 政务服务便民热线
	Skills []string // agents with any of these skills take its calls; empty: the number itself
	Domain string   // category code (or group) its calls usually belong to; may be empty
}

// skill is the skill a call on this line asks the ACD for.
func (l *Line) skill() string {
	if len(l.Skills) > 0 {
		return l.Skills[0]
	}
	return l.Number
}

// Lines finds a call's line by number.
type Lines struct {
	byNumber       map[string]*Line
	defaultCountry string
}

// NewLines checks and indexes the configured lines.
func NewLines(lines []Line, defaultCountry string) (*Lines, error) {
	ls := &Lines{byNumber: map[string]*Line{}, defaultCountry: strings.TrimPrefix(defaultCountry, "+")}
	for i := range lines {
		l := lines[i]
		if l.Number == "" || strings.Trim(l.Number, "0123456789") != "" || len(l.Number) > 20 {
			return nil, fmt.Errorf("hotline line %d: number %q must be 1–20 digits", i+1, l.Number)
		}
		if _, dup := ls.byNumber[l.Number]; dup {
			return nil, fmt.Errorf("hotline line %q configured twice", l.Number)
		}
		if l.Label == "" {
			l.Label = l.Number
		}
		ls.byNumber[l.Number] = &l
	}
	return ls, nil
}

// Numbers lists the configured numbers.
func (ls *Lines) Numbers() []string {
	out := make([]string, 0, len(ls.byNumber))
	for n := range ls.byNumber {
		out = append(out, n)
	}
	return out
}

// Lookup finds the line for a dialled number, accepting the country code
// in front (+8612345, 008612345).
func (ls *Lines) Lookup(number string) *Line {
	if l := ls.byNumber[number]; l != nil {
		return l
	}
	for _, p := range []string{"+" + ls.defaultCountry, "00" + ls.defaultCountry} {
		if rest, ok := strings.CutPrefix(number, p); ok {
			return ls.byNumber[rest]
		}
	}
	return nil
}

// Resolve finds the line of an INVITE or MESSAGE. A legacy number forwarded
// into the hub names itself in Diversion (RFC 5806) or as the first entry
// of History-Info (RFC 7044); otherwise the Request-URI's user is the line.
func (ls *Lines) Resolve(req *sip.Request) *Line {
	for _, name := range []string{"Diversion", "History-Info"} {
		for _, h := range req.GetHeaders(name) {
			// Diversion lists the latest diversion first, so the number first
			// dialled is the last entry; History-Info lists it first.
			entries := splitHeaderList(h.Value())
			if name == "Diversion" {
				for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
					entries[i], entries[j] = entries[j], entries[i]
				}
			}
			for _, e := range entries {
				if l := ls.Lookup(addressUser(e)); l != nil {
					return l
				}
			}
		}
	}
	return ls.Lookup(req.Recipient.User)
}

// CallerID is the caller's number: P-Asserted-Identity when the carrier
// asserted one, else From, normalised to E.164. "" when the number is
// withheld or not a number.
func CallerID(req *sip.Request, defaultCountry string) string {
	if h := req.GetHeader("P-Asserted-Identity"); h != nil {
		for _, e := range splitHeaderList(h.Value()) {
			if n := ticketing.NormalizePhone(addressUser(e), defaultCountry); n != "" {
				return n
			}
		}
	}
	if f := req.From(); f != nil {
		return ticketing.NormalizePhone(f.Address.User, defaultCountry)
	}
	return ""
}

// splitHeaderList splits a comma-separated header value at the commas that
// are outside <> and quotes.
func splitHeaderList(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"' && (i == 0 || v[i-1] != '\\'):
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			if depth > 0 {
				depth--
			}
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}

// addressUser is the user part of a name-addr or addr-spec
// ("Name" <sip:12345@host;user=phone>;reason=x → 12345; <tel:+8612345> →
// +8612345). It reads only what it needs and never fails: anything odd
// gives "" or a string no line matches.
func addressUser(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	} else if j := strings.IndexByte(v, ';'); j >= 0 && !strings.HasPrefix(strings.ToLower(v), "tel:") {
		v = v[:j] // header parameters of an addr-spec without <>
	}
	lower := strings.ToLower(v)
	switch {
	case strings.HasPrefix(lower, "sip:"):
		v = v[4:]
	case strings.HasPrefix(lower, "sips:"):
		v = v[5:]
	case strings.HasPrefix(lower, "tel:"):
		v = v[4:]
		if j := strings.IndexByte(v, ';'); j >= 0 {
			v = v[:j]
		}
		return v
	default:
		return ""
	}
	if at := strings.IndexByte(v, '@'); at >= 0 {
		v = v[:at]
	} else {
		return "" // sip:host has no user
	}
	if j := strings.IndexByte(v, ';'); j >= 0 {
		v = v[:j] // user parameters (RFC 4694: ;npdi, ;rn)
	}
	if j := strings.IndexByte(v, ':'); j >= 0 {
		v = v[:j] // user:password
	}
	return v
}
