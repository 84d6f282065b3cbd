package desks_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yihao-city/yihao/desks"
	"github.com/yihao-city/yihao/media"
	"github.com/yihao-city/yihao/ticketing"
)

// withPhotos gives the desks a photo store in a fresh directory.
func withPhotos(t *testing.T) (envOption, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "media")
	d, err := media.NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *desks.Config) { c.Photos = d }, dir
}

// photoJPEG is a small JPEG of one colour.
func photoJPEG(t *testing.T, shade uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 12))
	for i := range img.Pix {
		img.Pix[i] = shade
	}
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// handleWithPhotos posts the result form as the browser does: multipart,
// with the CSRF field (unless csrf is false) and the photos as files.
func (c *client) handleWithPhotos(t *testing.T, number, result string, csrf bool, photos ...[]byte) response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if csrf {
		mw.WriteField("csrf", c.csrf)
	}
	mw.WriteField("result", result)
	for i, p := range photos {
		fw, err := mw.CreateFormFile("photos", "现场"+string(rune('a'+i))+".jpg")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(p)
	}
	if len(photos) == 0 { // what a browser sends for an empty file input
		fw, _ := mw.CreateFormFile("photos", "")
		fw.Write(nil)
	}
	mw.Close()
	return c.do(t, http.MethodPost, "/desk/tickets/"+number+"/handle", &body, "Content-Type", mw.FormDataContentType())
}

// files counts the files under dir.
func files(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// accepted is a ticket of the transport department (jt) that its liaison
// has accepted.
func accepted(t *testing.T, e *env, li *client, text string) *ticketing.Ticket {
	t.Helper()
	tk := e.submit(t, "roads", text)
	li.act(t, tk.Number, "accept", nil)
	return tk
}

func TestHandleWithPhotos(t *testing.T) {
	opt, dir := withPhotos(t)
	e := newEnv(t, opt)
	li, other, disp := e.login(t, "li.jt"), e.login(t, "li.sw"), e.login(t, "disp")
	tk := accepted(t, e, li, "和平路路面坑洞")

	if r := li.handleWithPhotos(t, tk.Number, "已修补", false, photoJPEG(t, 90)); r.code != http.StatusForbidden {
		t.Fatalf("without the CSRF field: %d, want 403", r.code)
	}
	r := li.handleWithPhotos(t, tk.Number, "已修补路面", true, photoJPEG(t, 90), photoJPEG(t, 200))
	if r.code != http.StatusSeeOther {
		t.Fatalf("handle with photos: %d %s", r.code, errorText(r.body))
	}
	got := e.ticket(t, tk.Number)
	photos := got.ResultPhotos()
	if got.Status != ticketing.StatusHandled || len(photos) != 2 || len(got.CitizenPhotos()) != 0 || files(t, dir) != 2 {
		t.Fatalf("status %s, attachments %+v, %d files", got.Status, got.Attachments, files(t, dir))
	}
	if a := e.audited(t, tk.Number, "handle"); len(a) != 1 || a[0].Detail != "photos=2" {
		t.Errorf("audit %+v", a)
	}

	page := disp.get(t, "/desk/tickets/"+tk.Number)
	for _, p := range photos {
		if !strings.Contains(page.body, `src="/desk/tickets/`+tk.Number+`/photos/`+p.ID+`"`) {
			t.Errorf("the ticket page does not show %s", p.ID)
		}
	}
	if !strings.Contains(page.body, `id="result-photos"`) || strings.Contains(page.body, `id="citizen-photos"`) {
		t.Error("the page should list the result photos and no citizen's photos")
	}

	path := "/desk/tickets/" + tk.Number + "/photos/" + photos[0].ID
	for _, tc := range []struct {
		who  string
		c    *client
		path string
		want int
	}{
		{"the liaison", li, path, http.StatusOK},
		{"a dispatcher", disp, path, http.StatusOK},
		{"another department", other, path, http.StatusNotFound},
		{"a photo of no ticket", disp, "/desk/tickets/" + tk.Number + "/photos/2026/01/01/x.jpg", http.StatusNotFound},
		{"through another ticket", disp, "/desk/tickets/" + e.submit(t, "roads", "另一件").Number + "/photos/" + photos[0].ID, http.StatusNotFound},
		{"signed out", e.anonymous(), path, http.StatusSeeOther},
	} {
		r := tc.c.get(t, tc.path)
		if r.code != tc.want {
			t.Errorf("%s: %d, want %d", tc.who, r.code, tc.want)
			continue
		}
		if tc.want != http.StatusOK {
			continue
		}
		h := r.header
		if h.Get("Content-Type") != "image/jpeg" || h.Get("Cache-Control") != "private, no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", tc.who, h)
		}
		if _, err := jpeg.Decode(strings.NewReader(r.body)); err != nil {
			t.Errorf("%s: not a JPEG: %v", tc.who, err)
		}
	}
}

func TestHandlePhotosRefused(t *testing.T) {
	opt, dir := withPhotos(t)
	e := newEnv(t, opt)
	li := e.login(t, "li.jt")

	tk := accepted(t, e, li, "路灯不亮")
	six := make([][]byte, ticketing.MaxResultPhotos+1)
	for i := range six {
		six[i] = photoJPEG(t, uint8(i*30))
	}
	// A made-up token gets no further than a text form would: 401.
	forged := &client{e: e, bearer: "yh_made-up-token"}
	if r := forged.handleWithPhotos(t, tk.Number, "已修复", false, six...); r.code != http.StatusUnauthorized {
		t.Errorf("photos with a made-up token: %d, want 401", r.code)
	}
	r := li.handleWithPhotos(t, tk.Number, "已修复", true, six...)
	if r.code != http.StatusRequestEntityTooLarge || !strings.Contains(errorText(r.body), "photos") {
		t.Fatalf("six photos: %d %s", r.code, errorText(r.body))
	}
	if got := e.ticket(t, tk.Number); got.Status != ticketing.StatusAccepted || len(got.Attachments) != 0 || files(t, dir) != 0 {
		t.Fatalf("after refusing: status %s, %d attachments, %d files", got.Status, len(got.Attachments), files(t, dir))
	}

	// A refused action leaves no photos behind.
	done := e.submit(t, "roads", "井盖缺失")
	if r := li.handleWithPhotos(t, done.Number, "已修复", true, photoJPEG(t, 10)); r.code != http.StatusConflict || files(t, dir) != 0 {
		t.Fatalf("handle before accepting: %d, %d files", r.code, files(t, dir))
	}

	// Without photos, the form and the API work as before.
	li.act(t, done.Number, "accept", nil)
	if r := li.handleWithPhotos(t, done.Number, "已补装井盖", true); r.code != http.StatusSeeOther {
		t.Fatalf("handle without photos: %d %s", r.code, errorText(r.body))
	}
	api := accepted(t, e, li, "道路积水")
	if r := li.api(t, http.MethodPost, "/api/v1/desk/tickets/"+api.Number+"/handle", map[string]string{"result": "已排水"}); r.code != http.StatusOK {
		t.Fatalf("API handle: %d %s", r.code, r.body)
	}
	for _, n := range []string{done.Number, api.Number} {
		if got := e.ticket(t, n); got.Status != ticketing.StatusHandled || len(got.Attachments) != 0 {
			t.Errorf("%s: status %s, %d attachments", n, got.Status, len(got.Attachments))
		}
	}

	// With no photo store, photos are refused and the form says why.
	plain := newEnv(t)
	li = plain.login(t, "li.jt")
	tk = accepted(t, plain, li, "路面坑洞")
	r = li.handleWithPhotos(t, tk.Number, "已修补", true, photoJPEG(t, 90))
	if r.code != http.StatusBadRequest || !strings.Contains(errorText(r.body), "photo store") {
		t.Fatalf("no photo store: %d %s", r.code, errorText(r.body))
	}
	if r := li.post(t, "/desk/tickets/"+tk.Number+"/handle", url.Values{"result": {"已修补"}}); r.code != http.StatusSeeOther {
		t.Fatalf("no photo store, no photos: %d %s", r.code, errorText(r.body))
	}
}
