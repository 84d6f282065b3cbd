package ticketing_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/yihao-city/yihao/ticketing"
)

func TestViewerSees(t *testing.T) {
	tk := &ticketing.Ticket{Department: "swj", Assisting: []string{"cgw"}}
	for _, tc := range []struct {
		v           ticketing.Viewer
		sees, leads bool
	}{
		{ticketing.Viewer{Role: ticketing.RoleAdmin}, true, false},
		{ticketing.Viewer{Role: ticketing.RoleDispatcher}, true, false},
		{ticketing.Viewer{Role: ticketing.RoleAgent}, true, false},
		{ticketing.Viewer{Role: ticketing.RoleLiaison, Department: "swj"}, true, true},
		{ticketing.Viewer{Role: ticketing.RoleLiaison, Department: "cgw"}, true, false},
		{ticketing.Viewer{Role: ticketing.RoleLiaison, Department: "jtj"}, false, false},
		{ticketing.Viewer{Role: ticketing.RoleLiaison}, false, false},
		{ticketing.Viewer{Role: ticketing.RoleOpen311}, false, false},
		{ticketing.Viewer{Role: ticketing.RoleCTI}, false, false},
		{ticketing.Viewer{Role: "root"}, false, false},
	} {
		if got := tc.v.Sees(tk); got != tc.sees {
			t.Errorf("%+v sees = %v, want %v", tc.v, got, tc.sees)
		}
		if got := tc.v.Leads(tk); got != tc.leads {
			t.Errorf("%+v leads = %v, want %v", tc.v, got, tc.leads)
		}
	}
	// A ticket with no department yet is nobody's department's.
	if (ticketing.Viewer{Role: ticketing.RoleLiaison}).Sees(&ticketing.Ticket{}) {
		t.Error("a liaison without a department sees an undispatched ticket")
	}
}

func TestContactFor(t *testing.T) {
	c := ticketing.Contact{Name: "王芳", Phone: "+8613812345678", Email: "wang@example.com", OpenID: "oABC123"}
	for _, tc := range []struct {
		role ticketing.Role
		want ticketing.Contact
		full []ticketing.Field
	}{
		{ticketing.RoleAdmin, ticketing.Contact{Name: "王芳", Phone: "+8613812345678", Email: "wang@example.com"},
			[]ticketing.Field{ticketing.FieldName, ticketing.FieldPhone, ticketing.FieldEmail}},
		{ticketing.RoleAgent, ticketing.Contact{Name: "王芳", Phone: "+8613812345678", Email: "w***@example.com"},
			[]ticketing.Field{ticketing.FieldName, ticketing.FieldPhone}},
		{ticketing.RoleLiaison, ticketing.Contact{Name: "王芳", Phone: "138****5678", Email: "w***@example.com"},
			[]ticketing.Field{ticketing.FieldName}},
		{ticketing.RoleOpen311, ticketing.Contact{}, nil},
		{ticketing.RoleCTI, ticketing.Contact{}, nil},
	} {
		v := ticketing.Viewer{Role: tc.role, Department: "swj"}
		got, full := v.ContactFor(c)
		if got != tc.want || !slices.Equal(full, tc.full) {
			t.Errorf("%s: %+v %v, want %+v %v", tc.role, got, full, tc.want, tc.full)
		}
		if got.OpenID != "" {
			t.Errorf("%s is shown the OpenID", tc.role)
		}
	}
	if (ticketing.Viewer{Role: ticketing.RoleLiaison}).MayReveal(ticketing.FieldPhone) != true ||
		(ticketing.Viewer{Role: ticketing.RoleOpen311}).MayReveal(ticketing.FieldPhone) {
		t.Error("reveal: a liaison may ask for the phone, an Open311 key may not")
	}
}

func TestTokenValidate(t *testing.T) {
	h := ticketing.HashToken("x")
	for _, tc := range []struct {
		tok  ticketing.Token
		want string // the field at fault; "" valid
	}{
		{ticketing.Token{Role: ticketing.RoleAdmin, Hash: h}, ""},
		{ticketing.Token{Role: ticketing.RoleLiaison, Department: "swj", Hash: h}, ""},
		{ticketing.Token{Role: ticketing.RoleLiaison, User: "li", Hash: h}, ""},
		{ticketing.Token{Role: ticketing.RoleLiaison, Hash: h}, "department"},
		{ticketing.Token{Role: ticketing.RoleLiaison, User: "li", Department: "swj", Hash: h}, "department"},
		{ticketing.Token{Role: ticketing.RoleOpen311, Department: "swj", Hash: h}, "department"},
		{ticketing.Token{Role: ticketing.RoleLiaison, Department: "s wj", Hash: h}, "department"},
		{ticketing.Token{Role: "root", Hash: h}, "role"},
		{ticketing.Token{Role: ticketing.RoleAdmin, Hash: "plain"}, "hash"},
	} {
		err := tc.tok.Validate()
		var e *ticketing.Error
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.tok, err)
		case tc.want != "" && (!errors.As(err, &e) || e.Field != tc.want):
			t.Errorf("%+v: %v, want an error naming %s", tc.tok, err, tc.want)
		}
	}
}
