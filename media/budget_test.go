package media

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"testing"

	"github.com/yihao-city/yihao/ticketing"
)

// png16 writes a valid w×h 16-bit RGBA PNG, all black, streaming its rows
// so the test itself never holds the decoded image.
func png16(t *testing.T, w, h int) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&out, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		out.WriteString(typ)
		out.Write(data)
		binary.Write(&out, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6 // bit depth 16, colour type RGBA
	chunk("IHDR", ihdr)
	var idat bytes.Buffer
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]byte, 1+w*8) // filter byte 0, then the pixels
	for range h {
		if _, err := zw.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// A 16-bit PNG at the pixel limit (400 MB once decoded) is refused from
// its header, before any decoding, with an error that says why.
func TestSixteenBitPNGAtPixelLimitRefused(t *testing.T) {
	raw := png16(t, 10_000, 5_000)
	if len(raw) > DefaultMaxBytes {
		t.Fatalf("test PNG is %d bytes, over the upload cap", len(raw))
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil || format != "png" || cfg.ColorModel != color.NRGBA64Model || cfg.Width*cfg.Height != DefaultMaxPixels {
		t.Fatalf("test PNG reads as %v %s %v", cfg, format, err)
	}
	d := newTestDisk(t)
	_, err = d.Prepare(bytes.NewReader(raw))
	wantKind(t, err, ticketing.KindTooLarge, "10000×5000", "MB", "8-bit")
	// The same photo at a size the budget allows is taken, 16 bits and all.
	small := png16(t, 64, 48)
	p, err := d.Prepare(bytes.NewReader(small))
	if err != nil {
		t.Fatalf("a small 16-bit PNG: %v", err)
	}
	if img, err := png.Decode(bytes.NewReader(p.data)); err != nil || img.Bounds().Dx() != 64 {
		t.Fatalf("the small 16-bit PNG kept: %v", err)
	}
}

func TestDecodeBytes(t *testing.T) {
	base := jpegOf(t, 40, 30)
	comps, progressive := jpegFrame(base)
	if comps != 3 || progressive {
		t.Errorf("baseline JPEG read as %d components, progressive %v", comps, progressive)
	}
	// The same frame header marked progressive (SOF2).
	prog := bytes.Replace(base, []byte{0xFF, 0xC0}, []byte{0xFF, 0xC2}, 1)
	if _, p := jpegFrame(prog); !p {
		t.Error("a SOF2 frame not seen as progressive")
	}
	if _, p := jpegFrame([]byte{0xFF, 0xD8, 0xFF}); !p {
		t.Error("a truncated JPEG must count as the costliest case")
	}
	for _, tc := range []struct {
		m    color.Model
		want int64
	}{
		{color.GrayModel, 1}, {color.Gray16Model, 2}, {color.YCbCrModel, 3}, {color.NRGBAModel, 4},
		{color.RGBA64Model, 8}, {color.NRGBA64Model, 8}, {color.Palette{color.Black}, 1},
	} {
		if got := bytesPerPixel(tc.m); got != tc.want {
			t.Errorf("%T: %d bytes a pixel, want %d", tc.m, got, tc.want)
		}
	}
	if need := decodeBytes(image.Config{ColorModel: color.NRGBAModel, Width: 10_000, Height: 5_000}, "png", nil); need > DefaultMaxDecodeBytes {
		t.Errorf("an 8-bit RGBA photo at the pixel limit needs %d bytes, over the default budget", need)
	}
}
