package classify

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

// A small file whose gob stream claims a huge message must be refused
// before anything that size is allocated.
func TestLoadRefusesLengthBomb(t *testing.T) {
	var raw bytes.Buffer
	raw.WriteString(fileMagic)
	raw.WriteByte(fileVersion)
	zw := gzip.NewWriter(&raw)
	// gob uint for 3 GiB: 0xFC (-4: four bytes follow) then big-endian 0xC0000000.
	zw.Write([]byte{0xFC, 0xC0, 0x00, 0x00, 0x00, 1, 2, 3})
	zw.Close()
	_, err := Load(bytes.NewReader(raw.Bytes()))
	if err == nil || !strings.Contains(err.Error(), "claims") {
		t.Fatalf("err = %v, want a refusal naming the claimed size", err)
	}
}
