package media

import (
	"bytes"
	"encoding/binary"
)

// exifInfo is what Yihao wants from a photo's EXIF: where it was taken and
// which way up it is. Everything else is dropped when the photo is re-encoded.
type exifInfo struct {
	orientation int
	lat, lon    float64
	hasGPS      bool
}

// readEXIF reads the orientation and GPS position from a JPEG's APP1
// segment. It reads IFD0 and the GPS IFD only and follows no chains, so a
// crafted file cannot make it loop; every offset is bounds-checked.
func readEXIF(jpeg []byte) (exifInfo, bool) {
	tiff, ok := app1(jpeg)
	if !ok || len(tiff) < 8 {
		return exifInfo{}, false
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return exifInfo{}, false
	}
	if bo.Uint16(tiff[2:]) != 42 {
		return exifInfo{}, false
	}
	var info exifInfo
	ifd0 := readIFD(tiff, bo, bo.Uint32(tiff[4:]))
	if e, ok := ifd0[0x0112]; ok && e.typ == 3 {
		info.orientation = int(bo.Uint16(e.value))
	}
	gpsPtr, ok := ifd0[0x8825]
	if !ok || gpsPtr.typ != 4 {
		return info, true
	}
	gps := readIFD(tiff, bo, bo.Uint32(gpsPtr.value))
	lat, ok1 := degrees(tiff, bo, gps[2])
	lon, ok2 := degrees(tiff, bo, gps[4])
	if !ok1 || !ok2 {
		return info, true
	}
	if ref, ok := gps[1]; ok && ref.value[0] == 'S' {
		lat = -lat
	}
	if ref, ok := gps[3]; ok && ref.value[0] == 'W' {
		lon = -lon
	}
	info.lat, info.lon, info.hasGPS = lat, lon, true
	return info, true
}

// app1 finds the Exif APP1 segment among the JPEG's leading markers.
func app1(b []byte) ([]byte, bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil, false
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return nil, false
		}
		marker := b[i+1]
		if marker == 0xDA || marker == 0xD9 { // start of scan, end of image
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil, false
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg[6:], true
		}
		i += 2 + n
	}
	return nil, false
}

// ifdEntry is one tag: its type and its 4-byte value-or-offset field.
type ifdEntry struct {
	typ   uint16
	count uint32
	value []byte
}

// maxEntries bounds an IFD; real cameras write a few dozen.
const maxEntries = 512

func readIFD(tiff []byte, bo binary.ByteOrder, off uint32) map[uint16]ifdEntry {
	entries := map[uint16]ifdEntry{}
	if uint64(off)+2 > uint64(len(tiff)) {
		return entries
	}
	n := int(bo.Uint16(tiff[off:]))
	if n > maxEntries {
		return entries
	}
	for i := range n {
		p := uint64(off) + 2 + uint64(i)*12
		if p+12 > uint64(len(tiff)) {
			break
		}
		e := tiff[p : p+12]
		entries[bo.Uint16(e)] = ifdEntry{typ: bo.Uint16(e[2:]), count: bo.Uint32(e[4:]), value: e[8:12]}
	}
	return entries
}

// degrees reads a GPS coordinate: three RATIONALs (degrees, minutes, seconds).
func degrees(tiff []byte, bo binary.ByteOrder, e ifdEntry) (float64, bool) {
	if e.typ != 5 || e.count != 3 {
		return 0, false
	}
	off := uint64(bo.Uint32(e.value))
	if off+24 > uint64(len(tiff)) {
		return 0, false
	}
	var v [3]float64
	for i := range v {
		num, den := bo.Uint32(tiff[off+uint64(i)*8:]), bo.Uint32(tiff[off+uint64(i)*8+4:])
		if den == 0 {
			return 0, false
		}
		v[i] = float64(num) / float64(den)
	}
	return v[0] + v[1]/60 + v[2]/3600, true
}
