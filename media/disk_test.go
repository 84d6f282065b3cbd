package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// fixedNow is 03:00 on 1 March in Beijing, i.e. still 29 February in UTC:
// ids must be dated in UTC.
var fixedNow = time.Date(2024, 3, 1, 3, 0, 0, 0, time.FixedZone("CST", 8*3600))

const fixedDay = "2024/02/29/"

var idPattern = regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/[a-z2-7]+\.(jpg|png)$`)

// ---------------------------------------------------------------------------
// helpers

func newTestDisk(t *testing.T) *Disk {
	t.Helper()
	d, err := NewDisk(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatalf("NewDisk: %v", err)
	}
	d.now = func() time.Time { return fixedNow }
	return d
}

// testImage returns a w×h image with a gradient and, when noisy, random
// pixels (so that it does not compress well).
func testImage(t *testing.T, w, h int, noisy bool) *image.NRGBA {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{R: uint8(x * 255 / max(w-1, 1)), G: uint8(y * 255 / max(h-1, 1)), B: 128, A: 255}
			if noisy {
				c.R, c.G, c.B = uint8(rng.UintN(256)), uint8(rng.UintN(256)), uint8(rng.UintN(256))
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatalf("png.Encode: %v", err)
	}
	return buf.Bytes()
}

func encodeJPEG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatalf("jpeg.Encode: %v", err)
	}
	return buf.Bytes()
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	return encodePNG(t, testImage(t, w, h, false))
}

func jpegOf(t *testing.T, w, h int) []byte {
	t.Helper()
	return encodeJPEG(t, testImage(t, w, h, false))
}

// wantKind asserts that err is a *ticketing.Error of kind k on field
// "photos" whose message contains every one of msgParts.
func wantKind(t *testing.T, err error, k ticketing.Kind, msgParts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", k)
	}
	var te *ticketing.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %q (%T) is not a *ticketing.Error", err, err)
	}
	if te.Kind != k {
		t.Fatalf("Kind = %v, want %v (error %q)", te.Kind, k, err)
	}
	if te.Field != "photos" {
		t.Errorf("Field = %q, want %q", te.Field, "photos")
	}
	for _, p := range msgParts {
		if !strings.Contains(te.Message, p) {
			t.Errorf("Message %q does not mention %q", te.Message, p)
		}
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// decodeFile decodes a stored photo and checks its format.
func decodeFile(t *testing.T, path, wantFormat string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open saved file: %v", err)
	}
	defer f.Close()
	img, format, err := image.Decode(f)
	if err != nil {
		t.Fatalf("saved file does not decode: %v", err)
	}
	if format != wantFormat {
		t.Errorf("saved file is %s, want %s", format, wantFormat)
	}
	return img
}

// ---------------------------------------------------------------------------
// EXIF builder

const (
	tiffASCII    = 2
	tiffSHORT    = 3
	tiffLONG     = 4
	tiffRATIONAL = 5
)

// byteOrder is a TIFF byte order that can also append.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type tiffEntry struct {
	tag   uint16
	typ   uint16
	count uint32
	data  []byte // value bytes in the file's byte order
}

func shortEntry(bo byteOrder, tag, v uint16) tiffEntry {
	return tiffEntry{tag, tiffSHORT, 1, bo.AppendUint16(nil, v)}
}

func asciiEntry(tag uint16, s string) tiffEntry {
	return tiffEntry{tag, tiffASCII, uint32(len(s) + 1), append([]byte(s), 0)}
}

func rationalEntry(bo byteOrder, tag uint16, vals ...[2]uint32) tiffEntry {
	var b []byte
	for _, v := range vals {
		b = bo.AppendUint32(b, v[0])
		b = bo.AppendUint32(b, v[1])
	}
	return tiffEntry{tag, tiffRATIONAL, uint32(len(vals)), b}
}

// encodeIFD lays out one IFD that starts at offset base, followed by the
// values that do not fit in the entries.
func encodeIFD(bo byteOrder, entries []tiffEntry, base uint32) []byte {
	entries = append([]tiffEntry(nil), entries...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].tag < entries[j].tag })
	var head, extra []byte
	head = bo.AppendUint16(head, uint16(len(entries)))
	dataOff := base + 2 + 12*uint32(len(entries)) + 4
	for _, e := range entries {
		head = bo.AppendUint16(head, e.tag)
		head = bo.AppendUint16(head, e.typ)
		head = bo.AppendUint32(head, e.count)
		if len(e.data) <= 4 {
			v := make([]byte, 4)
			copy(v, e.data)
			head = append(head, v...)
			continue
		}
		head = bo.AppendUint32(head, dataOff+uint32(len(extra)))
		extra = append(extra, e.data...)
		if len(extra)%2 == 1 {
			extra = append(extra, 0)
		}
	}
	head = bo.AppendUint32(head, 0) // no next IFD
	return append(head, extra...)
}

// buildTIFF returns a TIFF structure with IFD0 holding ifd0 and, when gps
// is not nil, a GPSInfo pointer (0x8825) to a GPS IFD holding gps.
func buildTIFF(t *testing.T, bo byteOrder, ifd0, gps []tiffEntry) []byte {
	t.Helper()
	var out []byte
	if bo == binary.BigEndian {
		out = append(out, 'M', 'M')
	} else {
		out = append(out, 'I', 'I')
	}
	out = bo.AppendUint16(out, 42)
	out = bo.AppendUint32(out, 8)
	ifd0 = append([]tiffEntry(nil), ifd0...)
	if gps != nil {
		ifd0 = append(ifd0, tiffEntry{0x8825, tiffLONG, 1, bo.AppendUint32(nil, 0)})
		gpsOff := uint32(len(out) + len(encodeIFD(bo, ifd0, 8)))
		ifd0[len(ifd0)-1].data = bo.AppendUint32(nil, gpsOff)
		out = append(out, encodeIFD(bo, ifd0, 8)...)
		if uint32(len(out)) != gpsOff {
			t.Fatalf("TIFF layout: GPS IFD at %d, pointer says %d", len(out), gpsOff)
		}
		return append(out, encodeIFD(bo, gps, gpsOff)...)
	}
	return append(out, encodeIFD(bo, ifd0, 8)...)
}

// gpsEntries is a GPS IFD for 39°54'15.12" latRef, 116°24'26.64" lonRef
// (Tian'anmen, Beijing, when N/E).
func gpsEntries(bo byteOrder, latRef, lonRef string) []tiffEntry {
	return []tiffEntry{
		asciiEntry(0x0001, latRef),
		rationalEntry(bo, 0x0002, [2]uint32{39, 1}, [2]uint32{54, 1}, [2]uint32{1512, 100}),
		asciiEntry(0x0003, lonRef),
		rationalEntry(bo, 0x0004, [2]uint32{116, 1}, [2]uint32{24, 1}, [2]uint32{2664, 100}),
	}
}

// withEXIF inserts an APP1 "Exif\0\0"+tiff segment right after the SOI
// marker of a JPEG.
func withEXIF(t *testing.T, jpg, tiff []byte) []byte {
	t.Helper()
	if len(jpg) < 2 || jpg[0] != 0xFF || jpg[1] != 0xD8 {
		t.Fatalf("not a JPEG: % x", jpg[:min(len(jpg), 4)])
	}
	payload := append([]byte("Exif\x00\x00"), tiff...)
	if len(payload)+2 > 0xFFFF {
		t.Fatalf("APP1 too long: %d", len(payload))
	}
	out := append([]byte(nil), jpg[:2]...)
	out = append(out, 0xFF, 0xE1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(payload)+2))
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// ---------------------------------------------------------------------------
// hand-made images

// patchPNGSize rewrites the IHDR width and height of a PNG and fixes the
// chunk's CRC, leaving the (tiny) image data as it was.
func patchPNGSize(t *testing.T, p []byte, w, h uint32) []byte {
	t.Helper()
	p = append([]byte(nil), p...)
	// signature(8) | length(4) "IHDR"(4) width(4) height(4) ... crc
	if string(p[12:16]) != "IHDR" {
		t.Fatalf("first chunk is %q, want IHDR", p[12:16])
	}
	binary.BigEndian.PutUint32(p[16:], w)
	binary.BigEndian.PutUint32(p[20:], h)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	return p
}

// patchJPEGSize rewrites the dimensions in the SOF0 segment of a JPEG.
func patchJPEGSize(t *testing.T, j []byte, w, h uint16) []byte {
	t.Helper()
	j = append([]byte(nil), j...)
	for i := 2; i+9 < len(j); {
		if j[i] != 0xFF {
			t.Fatalf("JPEG: expected a marker at %d", i)
		}
		m := j[i+1]
		n := int(binary.BigEndian.Uint16(j[i+2:]))
		if m == 0xC0 {
			binary.BigEndian.PutUint16(j[i+5:], h)
			binary.BigEndian.PutUint16(j[i+7:], w)
			return j
		}
		i += 2 + n
	}
	t.Fatal("JPEG: no SOF0")
	return nil
}

// bitWriter writes a VP8L bit stream (least significant bit first).
type bitWriter struct {
	buf   []byte
	nbits uint
}

func (b *bitWriter) write(v uint32, n uint) {
	for i := uint(0); i < n; i++ {
		if b.nbits%8 == 0 {
			b.buf = append(b.buf, 0)
		}
		if v>>i&1 != 0 {
			b.buf[len(b.buf)-1] |= 1 << (b.nbits % 8)
		}
		b.nbits++
	}
}

// losslessWebP builds the smallest kind of valid lossless WebP: a w×h image
// of one colour, where every prefix code is a "simple" code with a single
// symbol so the pixels themselves take no bits at all.
func losslessWebP(t *testing.T, w, h int, c color.NRGBA) []byte {
	t.Helper()
	if w < 1 || h < 1 || w > 1<<14 || h > 1<<14 {
		t.Fatalf("bad WebP size %d×%d", w, h)
	}
	var bw bitWriter
	bw.write(0x2f, 8)         // VP8L signature
	bw.write(uint32(w-1), 14) // width - 1
	bw.write(uint32(h-1), 14) // height - 1
	bw.write(0, 1)            // alpha is not used
	bw.write(0, 3)            // version
	bw.write(0, 1)            // no transform
	bw.write(0, 1)            // no colour cache
	bw.write(0, 1)            // no meta prefix codes
	simple := func(sym uint8) {
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // 8-bit symbol
		bw.write(uint32(sym), 8)
	}
	simple(c.G) // green
	simple(c.R) // red
	simple(c.B) // blue
	simple(c.A) // alpha
	simple(0)   // distance (unused)
	vp8l := bw.buf
	chunk := append([]byte("VP8L"), binary.LittleEndian.AppendUint32(nil, uint32(len(vp8l)))...)
	chunk = append(chunk, vp8l...)
	if len(vp8l)%2 == 1 {
		chunk = append(chunk, 0)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(chunk)))...)
	out = append(out, "WEBP"...)
	return append(out, chunk...)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// ---------------------------------------------------------------------------
// tests

func TestPrepareSaveOpen(t *testing.T) {
	webp := losslessWebP(t, 7, 5, color.NRGBA{R: 200, G: 40, B: 90, A: 255})
	tests := []struct {
		name       string
		upload     []byte
		wantType   string
		wantFormat string // format of the stored file
		wantExt    string
		wantW      int
		wantH      int
	}{
		{"png", pngOf(t, 40, 30), "image/png", "png", ".png", 40, 30},
		{"png with alpha", encodePNG(t, image.NewNRGBA(image.Rect(0, 0, 3, 2))), "image/png", "png", ".png", 3, 2},
		{"jpeg", jpegOf(t, 40, 30), "image/jpeg", "jpeg", ".jpg", 40, 30},
		{"jpeg grayscale", encodeJPEG(t, image.NewGray(image.Rect(0, 0, 16, 9))), "image/jpeg", "jpeg", ".jpg", 16, 9},
		{"jpeg 1x1", jpegOf(t, 1, 1), "image/jpeg", "jpeg", ".jpg", 1, 1},
		// There is no WebP encoder in Go; WebP is stored as JPEG.
		{"webp lossless", webp, "image/jpeg", "jpeg", ".jpg", 7, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDisk(t)
			p, err := d.Prepare(bytes.NewReader(tt.upload))
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if p.GPS != nil {
				t.Errorf("GPS = %+v, want nil", *p.GPS)
			}
			if got, want := p.Digest(), sha256Hex(tt.upload); got != want {
				t.Errorf("Digest = %s, want %s", got, want)
			}
			a, err := d.Save(p)
			if err != nil {
				t.Fatalf("Save: %v", err)
			}
			if a.ContentType != tt.wantType {
				t.Errorf("ContentType = %q, want %q", a.ContentType, tt.wantType)
			}
			if !idPattern.MatchString(a.ID) {
				t.Errorf("ID %q does not look like YYYY/MM/DD/<random>.ext", a.ID)
			}
			if !strings.HasPrefix(a.ID, fixedDay) {
				t.Errorf("ID %q is not under %s (the UTC day)", a.ID, fixedDay)
			}
			if !strings.HasSuffix(a.ID, tt.wantExt) {
				t.Errorf("ID %q does not end in %s", a.ID, tt.wantExt)
			}
			if want := sha256Hex(tt.upload); a.SHA256 != want {
				t.Errorf("SHA256 = %s, want sha256 of the upload %s", a.SHA256, want)
			}
			path := filepath.Join(d.dir, filepath.FromSlash(a.ID))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatalf("stat saved file: %v", err)
			}
			if a.Size != fi.Size() {
				t.Errorf("Size = %d, file is %d bytes", a.Size, fi.Size())
			}
			if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
				t.Errorf("temporary file left behind: %v", err)
			}
			img := decodeFile(t, path, tt.wantFormat)
			if b := img.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("saved image is %d×%d, want %d×%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}

			f, err := d.Open(a.ID)
			if err != nil {
				t.Fatalf("Open(%q): %v", a.ID, err)
			}
			got, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				t.Fatalf("read opened file: %v", err)
			}
			want, _ := os.ReadFile(path)
			if !bytes.Equal(got, want) {
				t.Errorf("Open returned %d bytes that differ from the saved %d", len(got), len(want))
			}
			if int64(len(got)) != a.Size {
				t.Errorf("Open returned %d bytes, Size is %d", len(got), a.Size)
			}
		})
	}
}

func TestSaveTwiceGivesDistinctIDs(t *testing.T) {
	d := newTestDisk(t)
	p, err := d.Prepare(bytes.NewReader(pngOf(t, 4, 4)))
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		a, err := d.Save(p)
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		if seen[a.ID] {
			t.Fatalf("ID %q reused", a.ID)
		}
		seen[a.ID] = true
	}
}

func TestWebPColourSurvives(t *testing.T) {
	c := color.NRGBA{R: 200, G: 40, B: 90, A: 255}
	d := newTestDisk(t)
	p, err := d.Prepare(bytes.NewReader(losslessWebP(t, 16, 16, c)))
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	a, err := d.Save(p)
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	img := decodeFile(t, filepath.Join(d.dir, filepath.FromSlash(a.ID)), "jpeg")
	r, g, b, _ := img.At(8, 8).RGBA()
	got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
	want := [3]int{int(c.R), int(c.G), int(c.B)}
	for i := range got {
		if d := got[i] - want[i]; d < -8 || d > 8 {
			t.Fatalf("centre pixel = %v, want ≈ %v", got, want)
		}
	}
}

func TestPrepareEXIF(t *testing.T) {
	le, be := byteOrder(binary.LittleEndian), byteOrder(binary.BigEndian)
	const lat, lon = 39.9042, 116.4074
	tests := []struct {
		name         string
		bo           byteOrder
		orientation  uint16 // 0: no tag
		gps          []tiffEntry
		w, h         int
		wantGPS      *ticketing.Point
		wantW, wantH int
	}{
		{name: "big-endian GPS N/E, orientation 1", bo: be, orientation: 1, gps: gpsEntries(be, "N", "E"),
			w: 40, h: 20, wantGPS: &ticketing.Point{Lat: lat, Lon: lon}, wantW: 40, wantH: 20},
		{name: "little-endian GPS N/E, orientation 6", bo: le, orientation: 6, gps: gpsEntries(le, "N", "E"),
			w: 40, h: 20, wantGPS: &ticketing.Point{Lat: lat, Lon: lon}, wantW: 20, wantH: 40},
		{name: "big-endian GPS S/W", bo: be, gps: gpsEntries(be, "S", "W"),
			w: 40, h: 20, wantGPS: &ticketing.Point{Lat: -lat, Lon: -lon}, wantW: 40, wantH: 20},
		{name: "orientation 6 without GPS", bo: be, orientation: 6,
			w: 40, h: 20, wantW: 20, wantH: 40},
		{name: "orientation 8", bo: le, orientation: 8, w: 40, h: 20, wantW: 20, wantH: 40},
		{name: "orientation 3 keeps size", bo: le, orientation: 3, w: 40, h: 20, wantW: 40, wantH: 20},
		{name: "orientation 5", bo: be, orientation: 5, w: 40, h: 20, wantW: 20, wantH: 40},
		{name: "orientation 7", bo: be, orientation: 7, w: 40, h: 20, wantW: 20, wantH: 40},
		{name: "orientation out of range is ignored", bo: le, orientation: 9, w: 40, h: 20, wantW: 40, wantH: 20},
		{name: "GPS 0,0 is treated as absent", bo: le, gps: []tiffEntry{
			asciiEntry(0x0001, "N"),
			rationalEntry(le, 0x0002, [2]uint32{0, 1}, [2]uint32{0, 1}, [2]uint32{0, 1}),
			asciiEntry(0x0003, "E"),
			rationalEntry(le, 0x0004, [2]uint32{0, 1}, [2]uint32{0, 1}, [2]uint32{0, 1}),
		}, w: 40, h: 20, wantW: 40, wantH: 20},
		{name: "latitude out of range is ignored", bo: be, gps: []tiffEntry{
			asciiEntry(0x0001, "N"),
			rationalEntry(be, 0x0002, [2]uint32{95, 1}, [2]uint32{0, 1}, [2]uint32{0, 1}),
			asciiEntry(0x0003, "E"),
			rationalEntry(be, 0x0004, [2]uint32{116, 1}, [2]uint32{0, 1}, [2]uint32{0, 1}),
		}, w: 40, h: 20, wantW: 40, wantH: 20},
		{name: "GPS without longitude is ignored", bo: be, gps: []tiffEntry{
			asciiEntry(0x0001, "N"),
			rationalEntry(be, 0x0002, [2]uint32{39, 1}, [2]uint32{54, 1}, [2]uint32{1512, 100}),
		}, w: 40, h: 20, wantW: 40, wantH: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ifd0 []tiffEntry
			if tt.orientation != 0 {
				ifd0 = append(ifd0, shortEntry(tt.bo, 0x0112, tt.orientation))
			}
			if ifd0 == nil && tt.gps == nil {
				t.Fatal("test case has no EXIF")
			}
			upload := withEXIF(t, jpegOf(t, tt.w, tt.h), buildTIFF(t, tt.bo, ifd0, tt.gps))
			if !bytes.Contains(upload, []byte("Exif\x00\x00")) {
				t.Fatal("helper did not insert EXIF")
			}

			d := newTestDisk(t)
			p, err := d.Prepare(bytes.NewReader(upload))
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			switch {
			case tt.wantGPS == nil && p.GPS != nil:
				t.Errorf("GPS = %+v, want nil", *p.GPS)
			case tt.wantGPS != nil && p.GPS == nil:
				t.Errorf("GPS = nil, want %+v", *tt.wantGPS)
			case tt.wantGPS != nil:
				if math.Abs(p.GPS.Lat-tt.wantGPS.Lat) > 1e-4 || math.Abs(p.GPS.Lon-tt.wantGPS.Lon) > 1e-4 {
					t.Errorf("GPS = %+v, want %+v ± 1e-4", *p.GPS, *tt.wantGPS)
				}
			}

			a, err := d.Save(p)
			if err != nil {
				t.Fatalf("Save: %v", err)
			}
			if a.SHA256 != sha256Hex(upload) {
				t.Errorf("SHA256 is not the digest of the upload as received")
			}
			path := filepath.Join(d.dir, filepath.FromSlash(a.ID))
			saved, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(saved, []byte("Exif")) {
				t.Error(`saved file still contains "Exif"`)
			}
			if bytes.Contains(saved, []byte{0xFF, 0xE1}) {
				t.Error("saved file still contains an APP1 marker")
			}
			img := decodeFile(t, path, "jpeg")
			if b := img.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("saved image is %d×%d, want %d×%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
		})
	}
}

// TestPrepareOrientationPixels checks, end to end, that orientation 6
// (rotate 90° clockwise) moves the top-left corner to the top-right.
func TestPrepareOrientationPixels(t *testing.T) {
	const w, h = 40, 20
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{A: 255}) // black
		}
	}
	for y := 0; y < 8; y++ { // white 8×8 block in the top-left corner
		for x := 0; x < 8; x++ {
			img.SetNRGBA(x, y, color.NRGBA{R: 255, G: 255, B: 255, A: 255})
		}
	}
	upload := withEXIF(t, encodeJPEG(t, img), buildTIFF(t, binary.LittleEndian,
		[]tiffEntry{shortEntry(binary.LittleEndian, 0x0112, 6)}, nil))
	d := newTestDisk(t)
	p, err := d.Prepare(bytes.NewReader(upload))
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	a, err := d.Save(p)
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	out := decodeFile(t, filepath.Join(d.dir, filepath.FromSlash(a.ID)), "jpeg")
	bright := func(x, y int) bool {
		r, _, _, _ := out.At(x, y).RGBA()
		return r > 0x8000
	}
	// Rotated 90° clockwise, the 20×40 image has the block at its top right.
	if !bright(h-4, 4) {
		t.Error("top-right corner of the rotated image is not white")
	}
	if bright(3, 3) || bright(3, w-4) || bright(h-4, w-4) {
		t.Error("another corner of the rotated image is white")
	}
}

// TestOrient checks every orientation on an exact 3×2 image: the pixel
// values are their source coordinates.
func TestOrient(t *testing.T) {
	const w, h = 3, 2
	src := image.NewNRGBA(image.Rect(10, 20, 10+w, 20+h)) // non-zero origin on purpose
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			src.SetNRGBA(10+x, 20+y, color.NRGBA{R: uint8(x), G: uint8(y), A: 255})
		}
	}
	// want[o] lists, row by row, the source (x,y) that lands at each output pixel.
	type xy struct{ x, y int }
	tests := []struct {
		o    int
		w, h int
		want [][]xy
	}{
		{1, 3, 2, [][]xy{{{0, 0}, {1, 0}, {2, 0}}, {{0, 1}, {1, 1}, {2, 1}}}},
		{2, 3, 2, [][]xy{{{2, 0}, {1, 0}, {0, 0}}, {{2, 1}, {1, 1}, {0, 1}}}},
		{3, 3, 2, [][]xy{{{2, 1}, {1, 1}, {0, 1}}, {{2, 0}, {1, 0}, {0, 0}}}},
		{4, 3, 2, [][]xy{{{0, 1}, {1, 1}, {2, 1}}, {{0, 0}, {1, 0}, {2, 0}}}},
		{5, 2, 3, [][]xy{{{0, 0}, {0, 1}}, {{1, 0}, {1, 1}}, {{2, 0}, {2, 1}}}},
		{6, 2, 3, [][]xy{{{0, 1}, {0, 0}}, {{1, 1}, {1, 0}}, {{2, 1}, {2, 0}}}},
		{7, 2, 3, [][]xy{{{2, 1}, {2, 0}}, {{1, 1}, {1, 0}}, {{0, 1}, {0, 0}}}},
		{8, 2, 3, [][]xy{{{2, 0}, {2, 1}}, {{1, 0}, {1, 1}}, {{0, 0}, {0, 1}}}},
		{0, 3, 2, [][]xy{{{0, 0}, {1, 0}, {2, 0}}, {{0, 1}, {1, 1}, {2, 1}}}},
		{9, 3, 2, [][]xy{{{0, 0}, {1, 0}, {2, 0}}, {{0, 1}, {1, 1}, {2, 1}}}},
	}
	for _, tt := range tests {
		out := orient(src, tt.o)
		b := out.Bounds()
		if b.Dx() != tt.w || b.Dy() != tt.h {
			t.Errorf("orientation %d: %d×%d, want %d×%d", tt.o, b.Dx(), b.Dy(), tt.w, tt.h)
			continue
		}
		for y, row := range tt.want {
			for x, s := range row {
				r, g, _, _ := out.At(b.Min.X+x, b.Min.Y+y).RGBA()
				if got := (xy{int(r >> 8), int(g >> 8)}); got != s {
					t.Errorf("orientation %d: output (%d,%d) comes from %v, want %v", tt.o, x, y, got, s)
				}
			}
		}
	}
}

func TestPrepareRejects(t *testing.T) {
	bigNoisyPNG := encodePNG(t, testImage(t, 64, 64, true))
	if len(bigNoisyPNG) <= 1<<10 {
		t.Fatalf("noisy PNG is only %d bytes", len(bigNoisyPNG))
	}
	gifBuf := new(bytes.Buffer)
	if err := gif.Encode(gifBuf, image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.Black, color.White}), nil); err != nil {
		t.Fatal(err)
	}
	fullJPEG := jpegOf(t, 64, 64)
	fullPNG := pngOf(t, 64, 64)
	tiny := pngOf(t, 1, 1)

	tests := []struct {
		name      string
		upload    []byte
		maxBytes  int64 // 0: default
		maxPixels int   // 0: default
		kind      ticketing.Kind
		msg       []string
	}{
		{name: "pdf renamed to .jpg", upload: []byte("%PDF-1.4\n%âãÏÓ\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"),
			kind: ticketing.KindUnsupported, msg: []string{"application/pdf"}},
		{name: "gif", upload: gifBuf.Bytes(), kind: ticketing.KindUnsupported, msg: []string{"image/gif"}},
		{name: "html", upload: []byte("<!DOCTYPE html><html><body>hi</body></html>"), kind: ticketing.KindUnsupported, msg: []string{"text/html"}},
		{name: "empty", upload: nil, kind: ticketing.KindUnsupported, msg: []string{"text/plain"}},
		{name: "zip", upload: []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), kind: ticketing.KindUnsupported, msg: []string{"application/zip"}},

		{name: "over MaxBytes", upload: bigNoisyPNG, maxBytes: 1 << 10, kind: ticketing.KindTooLarge},
		{name: "one byte over MaxBytes", upload: tiny, maxBytes: int64(len(tiny)) - 1, kind: ticketing.KindTooLarge},

		{name: "png pixel bomb 20000x20000", upload: patchPNGSize(t, tiny, 20000, 20000),
			kind: ticketing.KindTooLarge, msg: []string{"20000×20000"}},
		{name: "png 1x(2^31-1)", upload: patchPNGSize(t, tiny, 1, 1<<31-1), kind: ticketing.KindTooLarge},
		{name: "jpeg pixel bomb 65535x65535", upload: patchJPEGSize(t, jpegOf(t, 8, 8), 65535, 65535),
			kind: ticketing.KindTooLarge, msg: []string{"65535×65535"}},
		{name: "one pixel over MaxPixels", upload: pngOf(t, 21, 10), maxPixels: 209, kind: ticketing.KindTooLarge},

		{name: "truncated jpeg", upload: fullJPEG[:len(fullJPEG)/2], kind: ticketing.KindInvalid},
		{name: "jpeg SOI only", upload: []byte{0xFF, 0xD8, 0xFF}, kind: ticketing.KindInvalid},
		{name: "jpeg without EOI and scan", upload: fullJPEG[:len(fullJPEG)-200], kind: ticketing.KindInvalid},
		{name: "truncated png", upload: fullPNG[:len(fullPNG)/2], kind: ticketing.KindInvalid},
		{name: "png signature only", upload: fullPNG[:8], kind: ticketing.KindInvalid},
		{name: "png zero width", upload: patchPNGSize(t, tiny, 0, 1), kind: ticketing.KindInvalid},
		{name: "webp header only", upload: losslessWebP(t, 4, 4, color.NRGBA{A: 255})[:20], kind: ticketing.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDisk(t)
			if tt.maxBytes != 0 {
				d.MaxBytes = tt.maxBytes
			}
			if tt.maxPixels != 0 {
				d.MaxPixels = tt.maxPixels
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			p, err := d.Prepare(bytes.NewReader(tt.upload))
			runtime.ReadMemStats(&after)
			if p != nil {
				t.Errorf("Prepare returned a photo along with error %v", err)
			}
			wantKind(t, err, tt.kind, tt.msg...)
			// Nothing may be decoded in full before the checks: a
			// 20000×20000 RGBA would be 1.6 GB.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
				t.Errorf("Prepare allocated %d MB before refusing", alloc>>20)
			}
			entries, err := os.ReadDir(d.dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 0 {
				t.Errorf("a refused upload left %d entries in the store", len(entries))
			}
		})
	}
}

func TestPrepareLimitsAreInclusive(t *testing.T) {
	up := pngOf(t, 20, 10)
	d := newTestDisk(t)
	d.MaxBytes = int64(len(up))
	d.MaxPixels = 200
	if _, err := d.Prepare(bytes.NewReader(up)); err != nil {
		t.Fatalf("an upload of exactly MaxBytes and MaxPixels was refused: %v", err)
	}
}

func TestPrepareStopsReadingHugeUpload(t *testing.T) {
	d := newTestDisk(t)
	if d.MaxBytes != DefaultMaxBytes {
		t.Fatalf("MaxBytes = %d, want default %d", d.MaxBytes, DefaultMaxBytes)
	}
	const size = 30 << 20
	header := pngOf(t, 2, 2)
	cr := &countingReader{r: io.MultiReader(bytes.NewReader(header), io.LimitReader(zeros{}, size-int64(len(header))))}
	p, err := d.Prepare(cr)
	if p != nil {
		t.Error("Prepare returned a photo")
	}
	wantKind(t, err, ticketing.KindTooLarge, "10 MB")
	const slack = 64 << 10
	if cr.n > d.MaxBytes+1+slack {
		t.Errorf("read %d bytes of a %d-byte upload; the limit is %d", cr.n, size, d.MaxBytes)
	}
	if cr.n <= d.MaxBytes {
		t.Errorf("read only %d bytes, cannot have seen the upload was over %d", cr.n, d.MaxBytes)
	}
}

func TestPrepareReadError(t *testing.T) {
	d := newTestDisk(t)
	boom := errors.New("connection reset")
	_, err := d.Prepare(io.MultiReader(bytes.NewReader(pngOf(t, 2, 2)[:10]), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap %v", err, boom)
	}
	if k := ticketing.KindOf(err); k != ticketing.KindInternal {
		t.Errorf("KindOf = %v, want internal (a broken connection is not the citizen's bad input)", k)
	}
}

func TestRemoveAndOpen(t *testing.T) {
	root := t.TempDir()
	d, err := NewDisk(filepath.Join(root, "media"))
	if err != nil {
		t.Fatal(err)
	}
	d.now = func() time.Time { return fixedNow }
	// A file just outside the store that a hostile id might reach.
	outside := filepath.Join(root, "secret.txt")
	if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}

	save := func() ticketing.Attachment {
		t.Helper()
		p, err := d.Prepare(bytes.NewReader(jpegOf(t, 8, 8)))
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		a, err := d.Save(p)
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		return a
	}
	gone, kept := save(), save()
	d.Remove([]ticketing.Attachment{
		gone,
		{ID: "../secret.txt"},
		{ID: filepath.ToSlash(outside)},
		{ID: ""},
		{ID: "2024/02/29/never-saved.jpg"},
	})
	if _, err := os.Stat(filepath.Join(d.dir, filepath.FromSlash(gone.ID))); !os.IsNotExist(err) {
		t.Errorf("removed file still there: %v", err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("Remove reached outside the store: %v", err)
	}
	f, err := d.Open(kept.ID)
	if err != nil {
		t.Fatalf("Open(kept): %v", err)
	}
	f.Close()

	notFound := []struct{ name, id string }{
		{"removed", gone.ID},
		{"never saved", "2024/02/29/abcdefgh.jpg"},
		{"parent escape", "../etc/passwd"},
		{"parent escape to a real file", "../secret.txt"},
		{"escape in the middle", "2024/../../secret.txt"},
		{"absolute", "/abs"},
		{"absolute real file", filepath.ToSlash(outside)},
		{"etc passwd", "/etc/passwd"},
		{"empty", ""},
		{"backslash", `2024\02\29\x.jpg`},
		{"backslash escape", `..\secret.txt`},
	}
	for _, tt := range notFound {
		t.Run(tt.name, func(t *testing.T) {
			f, err := d.Open(tt.id)
			if err == nil {
				f.Close()
				t.Fatalf("Open(%q) succeeded", tt.id)
			}
			if !errors.Is(err, ticketing.ErrNotFound) {
				t.Errorf("Open(%q) = %v, want ErrNotFound", tt.id, err)
			}
			if ticketing.KindOf(err) != ticketing.KindNotFound {
				t.Errorf("KindOf = %v, want not_found", ticketing.KindOf(err))
			}
		})
	}
}

func TestNewDiskCreatesDirAndDefaults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "c")
	d, err := NewDisk(dir)
	if err != nil {
		t.Fatalf("NewDisk: %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("store dir not created: %v", err)
	}
	if d.MaxBytes != DefaultMaxBytes || d.MaxPixels != DefaultMaxPixels {
		t.Errorf("limits = %d bytes, %d pixels; want defaults", d.MaxBytes, d.MaxPixels)
	}
	// A regular file where the directory should be is an error.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDisk(filepath.Join(file, "sub")); err == nil {
		t.Error("NewDisk under a regular file succeeded")
	}
}

// ---------------------------------------------------------------------------
// Regressions.

// TestPrepareEXIFIFDCycle: two IFDs pointing at each other once made an EXIF
// library loop forever (memory growing ~200 MB/s) on a ~400-byte JPEG;
// readEXIF follows no IFD chains.
func TestPrepareEXIFIFDCycle(t *testing.T) {
	bo := binary.LittleEndian
	tiff := []byte("II")
	tiff = bo.AppendUint16(tiff, 42)
	tiff = bo.AppendUint32(tiff, 8)
	tiff = bo.AppendUint16(tiff, 0)  // IFD at 8: no entries,
	tiff = bo.AppendUint32(tiff, 14) // next at 14
	tiff = bo.AppendUint16(tiff, 0)  // IFD at 14: no entries,
	tiff = bo.AppendUint32(tiff, 8)  // next at 8 again
	upload := withEXIF(t, jpegOf(t, 8, 8), tiff)
	d := newTestDisk(t)
	done := make(chan error, 1)
	go func() {
		_, err := d.Prepare(bytes.NewReader(upload))
		done <- err
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("Prepare still running after 5s on a %d-byte upload", len(upload))
	}
}

// TestOpenDirectory: ids naming a directory of the store (".", "2024",
// "2024/02/29") open that directory instead of reporting ErrNotFound.
func TestOpenDirectory(t *testing.T) {
	d := newTestDisk(t)
	p, err := d.Prepare(bytes.NewReader(pngOf(t, 2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Save(p); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{".", "2024", "2024/02", strings.TrimSuffix(fixedDay, "/")} {
		f, err := d.Open(id)
		if err == nil {
			f.Close()
		}
		if !errors.Is(err, ticketing.ErrNotFound) {
			t.Errorf("Open(%q) = %v, want ErrNotFound", id, err)
		}
	}
}
