package desks

import (
	"context"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/yihao-city/yihao/internal/httpapi"
	"github.com/yihao-city/yihao/ticketing"
)

// Every page is templates/layout.html and templates/partials.html with the
// page's own file, which defines "title" and "content".
const (
	layoutFile   = "layout.html"
	partialsFile = "partials.html"
)

func parsePages(fsys fs.FS) (map[string]*template.Template, error) {
	entries, err := fs.ReadDir(fsys, "templates")
	if err != nil {
		return nil, err
	}
	base, err := template.New(layoutFile).Funcs(funcs).ParseFS(fsys, "templates/"+layoutFile, "templates/"+partialsFile)
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".html" || name == layoutFile || name == partialsFile {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(fsys, "templates/"+name)
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// funcs are the helpers templates call besides the view's methods.
var funcs = template.FuncMap{
	"summary": summary,
	"str":     func(v any) string { return toString(v) },
}

func toString(v any) string {
	switch v := v.(type) {
	case action:
		return string(v)
	case ticketing.Status:
		return string(v)
	case ticketing.Light:
		return string(v)
	case ticketing.Role:
		return string(v)
	}
	return ""
}

// summary is the start of a ticket's text for a list row.
func summary(text string) string {
	const n = 48
	r := []rune(strings.Join(strings.Fields(text), " "))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n]) + "…"
}

// view is what every page template gets: the page's own Data and what the
// layout needs. Templates call its methods as {{$.L "中文" "English"}}.
type view struct {
	Lang  string // "zh" or "en"
	Staff *staff
	CSRF  string // the session's CSRF token; empty for bearer tokens
	Path  string
	Query url.Values
	Flash string
	Error string
	Data  any

	loc *time.Location
	nav []navItem
}

type navItem struct {
	Href, ZH, EN string
	Active       bool
}

// L picks the text of the page's language.
func (v *view) L(zh, en string) string {
	if v.Lang == "en" {
		return en
	}
	return zh
}

// EN reports whether the page is in English.
func (v *view) EN() bool { return v.Lang == "en" }

// Nav is the menu of the signed-in role.
func (v *view) Nav() []navItem { return v.nav }

// Can reports whether the signed-in staff may do a (a policy action name).
func (v *view) Can(a string) bool { return can(v.Staff, action(a)) }

// Time shows t in the city's time zone; empty for the zero time.
func (v *view) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(v.loc).Format("2006-01-02 15:04")
}

// InputTime is t as a datetime-local input's value.
func (v *view) InputTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(v.loc).Format(inputTimeLayout)
}

// Status names a state in the page's language.
func (v *view) Status(s ticketing.Status) string {
	if v.Lang == "en" {
		return strings.ReplaceAll(string(s), "_", " ")
	}
	return s.Label()
}

// Light names a deadline light.
func (v *view) Light(l ticketing.Light) string {
	switch l {
	case ticketing.LightRed:
		return v.L("超期", "overdue")
	case ticketing.LightYellow:
		return v.L("将到期", "due soon")
	case ticketing.LightGreen:
		return v.L("正常", "in time")
	}
	return ""
}

// Action names a workflow action.
func (v *view) Action(a action) string {
	n := actionNames[a]
	return v.L(n[0], n[1])
}

// Event names an event type.
func (v *view) Event(t ticketing.EventType) string {
	if n, ok := eventNames[t]; ok {
		return v.L(n[0], n[1])
	}
	return string(t)
}

// Channel names the door a report came through.
func (v *view) Channel(c ticketing.Channel) string {
	n, ok := channelNames[c]
	if !ok {
		return string(c)
	}
	return v.L(n[0], n[1])
}

// Role names a role.
func (v *view) Role(r ticketing.Role) string {
	n, ok := roleNames[r]
	if !ok {
		return string(r)
	}
	return v.L(n[0], n[1])
}

// tableView is what the "table" partial gets.
type tableView struct {
	V    *view
	Rows []row
}

// Table hands rows to the "table" partial with the page's helpers.
func (v *view) Table(rows []row) tableView { return tableView{V: v, Rows: rows} }

// InboxStatuses are the inbox's status filter's choices.
func (v *view) InboxStatuses() []ticketing.Status { return inboxStatuses }

// LangURL is this page in lang.
func (v *view) LangURL(lang string) string {
	q := url.Values{}
	for k, vs := range v.Query {
		q[k] = vs
	}
	q.Set("lang", lang)
	return v.Path + "?" + q.Encode()
}

var actionNames = map[action][2]string{
	actRegister: {"立案", "Register"}, actDecline: {"不予立案", "Decline"}, actDispatch: {"派遣", "Dispatch"},
	actAccept: {"签收", "Accept"}, actReturn: {"退回", "Return"}, actRefuseReturn: {"不同意退回", "Send back"},
	actHandle: {"办结反馈", "Report result"}, actExtend: {"申请延期", "Request extension"},
	actDecideExtension: {"延期审批", "Decide extension"}, actVerify: {"核查", "Verify"}, actMerge: {"并单", "Merge"},
	actNote: {"备注", "Note"}, actRaise: {"上报上级中心", "Raise to the level above"},
	actHandDown: {"下派", "Hand down"}, actTakeOver: {"提级办理", "Take over"},
	actReportPart: {"协办反馈", "Report our part"}, actWaivePart: {"协办免报", "Waive a part"},
}

var eventNames = map[ticketing.EventType][2]string{
	ticketing.EventReceived: {"受理", "received"}, ticketing.EventRegistered: {"立案", "registered"},
	ticketing.EventDeclined: {"不予立案", "declined"}, ticketing.EventResolvedOnContact: {"直办", "answered on contact"},
	ticketing.EventDispatched: {"派遣", "dispatched"}, ticketing.EventAccepted: {"签收", "accepted"},
	ticketing.EventReturned: {"退回", "returned"}, ticketing.EventReturnRefused: {"退回未同意", "return refused"},
	ticketing.EventHandled: {"办结反馈", "handled"}, ticketing.EventClosed: {"结案", "closed"},
	ticketing.EventRework: {"返工", "rework"}, ticketing.EventExtensionRequested: {"申请延期", "extension requested"},
	ticketing.EventExtensionApproved: {"同意延期", "extension approved"}, ticketing.EventExtensionRefused: {"不同意延期", "extension refused"},
	ticketing.EventEvaluated: {"评价", "evaluated"}, ticketing.EventReopened: {"重新办理", "reopened"},
	ticketing.EventMerged: {"并单", "merged"}, ticketing.EventForwarded: {"转送", "forwarded"},
	ticketing.EventExternalUpdate: {"外部平台反馈", "external update"}, ticketing.EventNote: {"备注", "note"},
	ticketing.EventNotified: {"短信告知", "notified"}, ticketing.EventRerouted: {"改判", "rerouted"},
	ticketing.EventRaised: {"上报", "raised"}, ticketing.EventHandedDown: {"下派", "handed down"},
	ticketing.EventTakenOver: {"提级", "taken over"}, ticketing.EventPartReported: {"协办反馈", "part reported"},
	ticketing.EventPartWaived: {"协办免报", "part waived"}, ticketing.EventTaskOpened: {"网格任务", "task for the grid"},
	ticketing.EventTaskTaken: {"领取任务", "task taken"}, ticketing.EventConfirmed: {"核实属实", "confirmed on site"},
	ticketing.EventDeadlineYellow: {"黄灯预警", "due soon"}, ticketing.EventDeadlineRed: {"红灯超期", "overdue"},
	ticketing.EventCentreOverdue: {"中心超时", "centre overdue"}, ticketing.EventTaskOverdue: {"任务超时", "task overdue"},
}

var channelNames = map[ticketing.Channel][2]string{
	ticketing.ChannelWeb: {"网站", "web"}, ticketing.ChannelPhone: {"电话", "phone"}, ticketing.ChannelSMS: {"短信", "SMS"},
	ticketing.ChannelWeChat: {"微信", "WeChat"}, ticketing.ChannelOpen311: {"Open311", "Open311"}, ticketing.ChannelCTI: {"电话", "phone"},
	ticketing.ChannelField: {"网格员上报", "field supervisor"}, ticketing.ChannelHotspot: {"热点督办", "hotspot case"},
}

var roleNames = map[ticketing.Role][2]string{
	admin: {"管理员", "administrator"}, dispatcher: {"派单员", "dispatcher"},
	liaison: {"联络员", "liaison"}, agent: {"话务员", "agent"},
}

// menu is every desk page, with the action that shows it.
var menu = []struct {
	need action
	item navItem
}{
	{actDispatchDesk, navItem{Href: "/desk/dispatch", ZH: "派单台", EN: "Dispatch"}},
	{actDispatchDesk, navItem{Href: "/desk/patrol", ZH: "巡查", EN: "Patrol"}},
	{actDispatchDesk, navItem{Href: "/desk/hotspots", ZH: "热点", EN: "Hotspots"}},
	{actView, navItem{Href: "/desk/inbox", ZH: "待办", EN: "Inbox"}},
	{actView, navItem{Href: "/desk/search", ZH: "查询工单", EN: "Find ticket"}},
	{actIndicators, navItem{Href: "/desk/indicators", ZH: "指标", EN: "Indicators"}},
	{actKnowledge, navItem{Href: "/desk/kb", ZH: "知识库", EN: "Knowledge"}},
	{actAudit, navItem{Href: "/desk/audit", ZH: "审计日志", EN: "Audit log"}},
}

func (s *Server) view(r *http.Request, data any) *view {
	v := &view{Lang: langFrom(r.Context()), Path: r.URL.Path, Query: r.URL.Query(), Data: data,
		loc: s.cfg.Location}
	v.Query.Del("lang")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// A page answering a post switches language on the page to GET.
		v.Path, v.Query = "/desk", nil
		if n := r.PathValue("number"); n != "" {
			v.Path = "/desk/tickets/" + n
		} else if r.URL.Path == "/login" {
			v.Path = "/login"
		}
	}
	if st := staffFrom(r.Context()); st != nil {
		v.Staff = st
		if st.session != "" {
			v.CSRF = s.csrfToken(st.session)
		}
		for _, m := range menu {
			if can(st, m.need) {
				it := m.item
				it.Active = r.URL.Path == it.Href
				v.nav = append(v.nav, it)
			}
		}
		if st.Role == agent {
			v.nav = append(v.nav, navItem{Href: "/agent", ZH: "话务台", EN: "Phone desk"})
		}
	}
	return v
}

// page renders the page template name (templates/name) in the layout with
// data as its .Data; for handlers of other files, such as indicators.go.
func (s *Server) page(w http.ResponseWriter, r *http.Request, name string, data any) {
	s.render(w, r, http.StatusOK, name, data, "")
}

// render writes page name with the status code and an error message.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, data any, errMsg string) {
	t, ok := s.pages[name]
	if !ok {
		s.log.Error("desk page template missing", "page", name)
		http.Error(w, "page template missing: "+name, http.StatusInternalServerError)
		return
	}
	v := s.view(r, data)
	v.Error = errMsg
	if c, err := r.Cookie(flashCookie); err == nil {
		if a := action(c.Value); isTicketAction(a) {
			v.Flash = v.L("已完成："+actionNames[a][0], "Done: "+actionNames[a][1])
		}
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/desk", MaxAge: -1, HttpOnly: true,
			Secure: !s.cfg.InsecureCookies, SameSite: http.SameSiteLaxMode})
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages carry citizens' personal data: never cached.
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(code)
	if err := t.ExecuteTemplate(w, layoutFile, v); err != nil {
		s.log.Error("desk page render", "page", name, "err", err)
	}
}

// flashCookie carries the action just done to the page a form post
// redirects to; only names of actions are shown, never what it holds.
const flashCookie = "yihao_desk_flash"

func (s *Server) flash(w http.ResponseWriter, a action) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: string(a), Path: "/desk", MaxAge: 60, HttpOnly: true,
		Secure: !s.cfg.InsecureCookies, SameSite: http.SameSiteLaxMode})
}

// fail answers an error: JSON {"error": {code, message, field}} for the API,
// the error page for pages; the status from the kind (httpapi.Status).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if isAPI(r) {
		httpapi.Fail(w, r, s.log, err)
		return
	}
	e := httpapi.Logged(w, r, s.log, err)
	s.render(w, r, httpapi.Status(e.Kind), "error.html", nil, s.errorText(r, e))
}

// errorText says an error to staff in the page's language, with the
// domain's own (English) detail.
func (s *Server) errorText(r *http.Request, e *ticketing.Error) string {
	zh, en := "操作未完成", "Not done"
	switch e.Kind {
	case ticketing.KindInvalid, ticketing.KindTooLarge:
		zh, en = "填写有误", "Please check the form"
	case ticketing.KindNotFound:
		zh, en = "没有找到", "Not found"
	case ticketing.KindConflict:
		zh, en = "工单状态已变化，无法执行此操作", "The ticket's state does not allow this"
	case ticketing.KindForbidden:
		zh, en = "无权执行此操作", "Not allowed"
	case ticketing.KindUnauthorized:
		zh, en = "请重新登录", "Please sign in again"
	case ticketing.KindUnavailable, ticketing.KindInternal:
		zh, en = "系统繁忙，请稍后重试", "Service busy; try again"
	}
	msg := tr(r, zh, en)
	if e.Kind != ticketing.KindInternal && e.Kind != ticketing.KindUnavailable {
		detail := e.Message
		if e.Field != "" {
			detail = e.Field + ": " + detail
		}
		if detail != "" {
			msg += " (" + detail + ")"
		}
	}
	return msg
}

func forbidden(a action) error {
	return ticketing.Errorf(ticketing.KindForbidden, "", "your role may not %s", strings.ReplaceAll(string(a), "_", " "))
}

type langKey struct{}

const langCookie = "yihao_lang"

// withLang settles the page language: ?lang=en|zh (kept in a cookie for a
// year), else the cookie, else the browser's Accept-Language; Chinese
// unless English is asked for.
func (s *Server) withLang(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		lang := ""
		if q := r.URL.Query().Get("lang"); q == "en" || q == "zh" {
			lang = q
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
				Secure: !s.cfg.InsecureCookies, SameSite: http.SameSiteLaxMode})
		} else if c, err := r.Cookie(langCookie); err == nil && (c.Value == "en" || c.Value == "zh") {
			lang = c.Value
		} else {
			lang = acceptLanguage(r.Header.Get("Accept-Language"))
		}
		h(w, r.WithContext(context.WithValue(r.Context(), langKey{}, lang)))
	}
}

// tr picks the text of the request's language.
func tr(r *http.Request, zh, en string) string {
	if langFrom(r.Context()) == "en" {
		return en
	}
	return zh
}

func langFrom(ctx context.Context) string {
	if l, _ := ctx.Value(langKey{}).(string); l == "en" {
		return l
	}
	return "zh"
}

// acceptLanguage is "en" when the browser prefers English to Chinese.
func acceptLanguage(h string) string {
	best, bestQ := "zh", -1.0
	for part := range strings.SplitSeq(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		tag = strings.ToLower(tag)
		for _, l := range []string{"zh", "en"} {
			if (tag == l || strings.HasPrefix(tag, l+"-")) && q > bestQ {
				best, bestQ = l, q
			}
		}
	}
	return best
}
