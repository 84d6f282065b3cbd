package ticketing

import (
	"slices"
	"strings"
	"time"
)

// Viewer is who reads or changes a ticket through any door: a role, for a
// liaison the department the liaison works for, and for a district or
// street centre's dispatcher the area it covers. The rules of this
// file are the one access policy of tickets; every door (desk pages and
// API, the web API's staff view, live events, photos, the call log,
// Open311) asks them rather than deciding for itself.
type Viewer struct {
	Role       Role
	Department string
	Area       string // "" is the city (User.Area)
	// Cells narrow a supervisor's tasks to the cells assigned (User.Cells).
	Cells []string
}

// Sees reports whether v may see t at all. Admins and agents, who look
// tickets up for callers, see every ticket; a dispatcher the tickets of
// the area the dispatcher's centre covers (all of them at the city
// centre; a ticket not placed in a district is the city's alone); a
// liaison the tickets routed to the liaison's department, as the lead or
// as an assisting (协办) department; a liaison without a department, and
// the integration roles (open311, cti), see no staff view. Doors answer a
// ticket a viewer does not see as not found, so numbers cannot be probed.
func (v Viewer) Sees(t *Ticket) bool {
	switch v.Role {
	case RoleAdmin, RoleAgent:
		return true
	case RoleDispatcher:
		return t.Area.Within(v.Area)
	case RoleLiaison:
		return v.Department != "" && (t.Department == v.Department || slices.Contains(t.Assisting, v.Department))
	}
	return false
}

// Local reports whether v sees only part of the city: a district or
// street centre. Listings, live events and figures that span the city
// are then narrowed to v's area or withheld.
func (v Viewer) Local() bool { return v.Area != "" }

// Leads reports whether v may work t as its department: accept, return,
// report the result, ask for more time. Only the lead department's
// liaison; an assisting department sees the ticket and may add notes.
func (v Viewer) Leads(t *Ticket) bool {
	return v.Role == RoleLiaison && v.Department != "" && t.Department == v.Department
}

// Field is one piece of a reporter's personal data.
type Field string

const (
	FieldName   Field = "name"
	FieldPhone  Field = "phone"
	FieldEmail  Field = "email"
	FieldOpenID Field = "openid"
)

// Fields are the personal fields of a Contact, in the order views list them.
var Fields = []Field{FieldName, FieldPhone, FieldEmail, FieldOpenID}

// Exposure is how much of one personal field a role is given.
type Exposure int

const (
	// Withheld: the field is left out altogether.
	Withheld Exposure = iota
	// Masked: shown masked only (138****5678, z***@example.com, 王*).
	Masked
	// OnRequest: masked, and shown in full only on an explicit request
	// (the desks' reveal), which is audited.
	OnRequest
	// Shown: may be given in full in a staff view; every such view is
	// audited with the fields it showed.
	Shown
)

// exposure is the personal-data table. Supervisors and agents call
// citizens back, so they get phone numbers; a liaison gets the name and a
// masked number, revealed on request (the department may need to call).
// OpenIDs are for the WeChat door only: a staff view says whether one
// exists, never what it is. Roles not listed get nothing.
var exposure = map[Role]map[Field]Exposure{
	RoleAdmin:      {FieldName: Shown, FieldPhone: Shown, FieldEmail: Shown},
	RoleDispatcher: {FieldName: Shown, FieldPhone: Shown, FieldEmail: Shown},
	RoleAgent:      {FieldName: Shown, FieldPhone: Shown, FieldEmail: Masked},
	RoleLiaison:    {FieldName: Shown, FieldPhone: OnRequest, FieldEmail: Masked},
}

// Exposure is how much of field f v's role is given.
func (v Viewer) Exposure(f Field) Exposure { return exposure[v.Role][f] }

// MayReveal reports whether v may see f in full, by default or on request.
func (v Viewer) MayReveal(f Field) bool { return v.Exposure(f) >= OnRequest }

// ContactFor is c as v may be shown it in a staff view, and the fields it
// holds in full (non-empty ones only): those must be audited before the
// view leaves. OnRequest fields are masked here; revealing them is a
// request of its own.
func (v Viewer) ContactFor(c Contact) (Contact, []Field) {
	var out Contact
	var full []Field
	for _, f := range Fields {
		val := c.field(f)
		if val == "" {
			continue
		}
		shown := ""
		switch v.Exposure(f) {
		case Shown:
			shown = val
			full = append(full, f)
		case Masked, OnRequest:
			shown = Mask(f, val)
		}
		out.set(f, shown)
	}
	return out, full
}

// Mask is the masked form of a personal field's value.
func Mask(f Field, val string) string {
	switch f {
	case FieldPhone:
		return MaskPhone(val)
	case FieldEmail:
		return MaskEmail(val)
	case FieldName:
		r := []rune(val)
		if len(r) == 0 {
			return ""
		}
		return string(r[:1]) + "*"
	}
	return ""
}

func (c Contact) field(f Field) string {
	switch f {
	case FieldName:
		return c.Name
	case FieldPhone:
		return c.Phone
	case FieldEmail:
		return c.Email
	case FieldOpenID:
		return c.OpenID
	}
	return ""
}

func (c *Contact) set(f Field, v string) {
	switch f {
	case FieldName:
		c.Name = v
	case FieldPhone:
		c.Phone = v
	case FieldEmail:
		c.Email = v
	case FieldOpenID:
		c.OpenID = v
	}
}

// FieldList is fields for an audit entry's detail: "name,phone".
func FieldList(fs []Field) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ",")
}

// ViewAudit is the audit entry of a view of t's personal data through
// door (e.g. "desk-page", "desk-api", "api", "calls"): who, when, which
// ticket, which fields, from where. Doors append it before the view leaves;
// when it cannot be written the view is not shown.
func ViewAudit(actor string, role Role, door, ticket string, fields []Field, source string, now time.Time) *AuditEntry {
	d := "door=" + door
	if len(fields) > 0 {
		d += " fields=" + FieldList(fields)
	}
	return &AuditEntry{At: now, Actor: actor, Role: role, Action: "view", Ticket: ticket, Detail: d, Source: source}
}

// ReadsCallLog reports whether v may read the call log and the hotline
// figures: the phone centre (agents), the city's supervision and admins.
// A district or street centre does not: a call is not placed in an area.
func (v Viewer) ReadsCallLog() bool {
	switch v.Role {
	case RoleAdmin, RoleAgent:
		return true
	case RoleDispatcher:
		return !v.Local() // the calls of the whole city's number
	}
	return false
}

// CallerNumbers is how v sees callers' numbers in the call log: in full
// for those who work the callback list (agents, admins), every such read
// audited; masked for supervision, which counts calls but calls no one
// back from the log.
func (v Viewer) CallerNumbers() Exposure {
	switch v.Role {
	case RoleAdmin, RoleAgent:
		return Shown
	case RoleDispatcher:
		return Masked
	}
	return Withheld
}

// WorksCallbacks reports whether v may mark calls called back and link
// tickets to calls: the phone centre's work.
func (v Viewer) WorksCallbacks() bool { return v.Role == RoleAdmin || v.Role == RoleAgent }
