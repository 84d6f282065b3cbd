package attacks

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// A decompression bomb by the citizen form: a photo whose header promises
// 10,000 × 5,000 pixels of 16-bit RGBA (400 MB decoded) in a file of a
// few dozen bytes. The hub refuses it from the header alone, names the
// photo, and files nothing; the same report without it then goes through
// under the same idempotency key as a new ticket.
func TestPhotoDecompressionBomb(t *testing.T) {
	eachStore(t, func(t *testing.T, store string) {
		s := Start(t, store, Options{NoSIP: true})
		post := func(photo []byte) (*http.Response, []byte) {
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			_ = mw.WriteField("text", "小区门口井盖缺失")
			_ = mw.WriteField("address", "东城区东华门街道")
			if photo != nil {
				fw, err := mw.CreateFormFile("photos", "bomb.png")
				if err != nil {
					t.Fatal(err)
				}
				_, _ = fw.Write(photo)
			}
			_ = mw.Close()
			return s.Do(t, http.MethodPost, "/api/v1/reports", http.Header{
				"Content-Type": {mw.FormDataContentType()}, "Idempotency-Key": {"bomb-" + store}}, &b)
		}
		resp, body := post(pngHeader(10_000, 5_000, 16, 6))
		// 413 with the memory it would take: refused from the header, before
		// a decoder allocated anything (a decode that failed on the token
		// image data would be a 400).
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "MB to read") {
			t.Fatalf("a 400 MB 16-bit PNG: %d %s, want 413 naming the memory it would take", resp.StatusCode, body)
		}
		if resp, body = post(nil); resp.StatusCode != http.StatusCreated {
			t.Fatalf("the same report without the photo: %d %s, want 201 (nothing was stored before)", resp.StatusCode, body)
		}
	})
}

// pngHeader is a PNG of width × height at depth bits and colour type ct
// whose image data is a token: enough for a decoder to read the header
// and size its buffers.
func pngHeader(width, height uint32, depth, ct byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(kind string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(kind))
		crc.Write(data)
		b.WriteString(kind)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := binary.BigEndian.AppendUint32(nil, width)
	ihdr = binary.BigEndian.AppendUint32(ihdr, height)
	ihdr = append(ihdr, depth, ct, 0, 0, 0)
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01}) // zlib of nothing
	chunk("IEND", nil)
	return b.Bytes()
}
