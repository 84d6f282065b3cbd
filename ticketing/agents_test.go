package ticketing_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

func TestHA1(t *testing.T) {
	// RFC 2617, section 3.5.
	if got := ticketing.HA1("Mufasa", "testrealm@host.com", "Circle Of Life"); got != "939e7578ed9e3c518a452acee763bce9" {
		t.Errorf("HA1(RFC 2617 example) = %s", got)
	}
	if ticketing.HA1("2001", "yihao", "pw") == ticketing.HA1("2001", "other", "pw") {
		t.Error("HA1 ignores the realm")
	}
}

func TestAgentValidate(t *testing.T) {
	valid := func() *ticketing.Agent {
		return &ticketing.Agent{Ext: "2001", Name: "王芳", Realm: "yihao", HA1: ticketing.HA1("2001", "yihao", "pw"),
			Skills: []string{"12345", "12319"}, CreatedAt: t0, UpdatedAt: t0}
	}
	many := make([]string, ticketing.MaxAgentSkills+1)
	for i := range many {
		many[i] = fmt.Sprint(12300 + i)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*ticketing.Agent)
		field string // "" when valid
	}{
		{"valid", func(*ticketing.Agent) {}, ""},
		{"no name, no skills, no created time", func(a *ticketing.Agent) { a.Name, a.Skills, a.CreatedAt = "", nil, time.Time{} }, ""},
		{"two-digit ext", func(a *ticketing.Agent) { a.Ext = "10" }, ""},
		{"sixteen-digit ext", func(a *ticketing.Agent) { a.Ext = "0123456789012345" }, ""},
		{"64-rune name", func(a *ticketing.Agent) { a.Name = strings.Repeat("王", 64) }, ""},
		{"32 skills of 32 runes", func(a *ticketing.Agent) {
			a.Skills = make([]string, ticketing.MaxAgentSkills)
			for i := range a.Skills {
				a.Skills[i] = strings.Repeat("语", 30) + fmt.Sprintf("%02d", i)
			}
		}, ""},
		{"no ext", func(a *ticketing.Agent) { a.Ext = "" }, "ext"},
		{"one-digit ext", func(a *ticketing.Agent) { a.Ext = "2" }, "ext"},
		{"17-digit ext", func(a *ticketing.Agent) { a.Ext = "01234567890123456" }, "ext"},
		{"letters in ext", func(a *ticketing.Agent) { a.Ext = "20a1" }, "ext"},
		{"signed ext", func(a *ticketing.Agent) { a.Ext = "+2001" }, "ext"},
		{"non-ASCII digits", func(a *ticketing.Agent) { a.Ext = "２００１" }, "ext"},
		{"65-rune name", func(a *ticketing.Agent) { a.Name = strings.Repeat("王", 65) }, "name"},
		{"newline in name", func(a *ticketing.Agent) { a.Name = "王\n芳" }, "name"},
		{"invalid UTF-8 name", func(a *ticketing.Agent) { a.Name = "\xff" }, "name"},
		{"no realm", func(a *ticketing.Agent) { a.Realm = "" }, "realm"},
		{"quote in realm", func(a *ticketing.Agent) { a.Realm = `yi"hao` }, "realm"},
		{"long realm", func(a *ticketing.Agent) { a.Realm = strings.Repeat("r", ticketing.MaxRealmLen+1) }, "realm"},
		{"no HA1", func(a *ticketing.Agent) { a.HA1 = "" }, "ha1"},
		{"upper-case HA1", func(a *ticketing.Agent) { a.HA1 = strings.ToUpper(a.HA1) }, "ha1"},
		{"short HA1", func(a *ticketing.Agent) { a.HA1 = a.HA1[:31] }, "ha1"},
		{"password as HA1", func(a *ticketing.Agent) { a.HA1 = "Circle Of Life" }, "ha1"},
		{"empty skill", func(a *ticketing.Agent) { a.Skills = []string{"12345", ""} }, "skills"},
		{"space in skill", func(a *ticketing.Agent) { a.Skills = []string{"123 45"} }, "skills"},
		{"ideographic space in skill", func(a *ticketing.Agent) { a.Skills = []string{"英语\u3000"} }, "skills"},
		{"tab in skill", func(a *ticketing.Agent) { a.Skills = []string{"12345\t"} }, "skills"},
		{"33-rune skill", func(a *ticketing.Agent) { a.Skills = []string{strings.Repeat("语", 33)} }, "skills"},
		{"repeated skill", func(a *ticketing.Agent) { a.Skills = []string{"12345", "12345"} }, "skills"},
		{"33 skills", func(a *ticketing.Agent) { a.Skills = many }, "skills"},
		{"no update time", func(a *ticketing.Agent) { a.UpdatedAt = time.Time{} }, "updatedAt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := valid()
			tc.edit(a)
			err := a.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var e *ticketing.Error
			if !errors.As(err, &e) || !errors.Is(err, ticketing.ErrInvalid) || e.Field != tc.field {
				t.Errorf("Validate() = %v, want invalid %s", err, tc.field)
			}
		})
	}
}

func TestCheckAgentPassword(t *testing.T) {
	for pw, want := range map[string]string{
		"short-pw":                "at least 10 characters",
		"1380013800":              "digits only",
		"20012001200":             "digits only",
		"wang-2001-fang":          "contain the extension",
		"aaaaaaaaaaaa":            "repeat one character",
		"QwertyUIOP":              "commonest",
		"password123":             "commonest",
		strings.Repeat("x", 2000): "at most",
	} {
		err := ticketing.CheckAgentPassword("2001", pw)
		if err == nil || !errors.Is(err, ticketing.ErrInvalid) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), pw) {
			t.Errorf("CheckAgentPassword(%.20q) = %v, want an invalid-input error saying %q", pw, err, want)
		}
	}
	for _, pw := range []string{"correct horse battery", "Wang.fang-desk7", "话务员王芳的软电话密码"} {
		if err := ticketing.CheckAgentPassword("2001", pw); err != nil {
			t.Errorf("CheckAgentPassword(%q) = %v", pw, err)
		}
	}
}
