package media

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"
)

// FuzzReadEXIF feeds arbitrary bytes as an APP1 segment: readEXIF must
// return, never panic, whatever the offsets say.
func FuzzReadEXIF(f *testing.F) {
	var buf bytes.Buffer
	jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 2, 2)), nil)
	plain := buf.Bytes()
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"))
	f.Add([]byte("MM\x00*\x00\x00\x00\x08\x00\x01\x88\x25\x00\x04\x00\x00\x00\x01\x00\x00\x00\x08"))
	f.Fuzz(func(t *testing.T, tiff []byte) {
		if len(tiff) > 60000 {
			return
		}
		seg := append([]byte("Exif\x00\x00"), tiff...)
		n := len(seg) + 2
		b := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, byte(n >> 8), byte(n)}, seg...)
		b = append(b, plain[2:]...)
		readEXIF(b)
	})
}
