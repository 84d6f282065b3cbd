package media

import (
	"image"
	"image/color"
)

// DefaultMaxDecodeBytes caps the memory one decode may take: an 8-bit RGBA
// photo at DefaultMaxPixels fits (200 MB), a 16-bit one of half that does
// not. Pixels alone are not enough: a 16-bit PNG holds 8 bytes a pixel,
// and a progressive JPEG keeps every coefficient of the whole image while
// it decodes.
const DefaultMaxDecodeBytes = 200 << 20

// decodeBytes is what decoding an image of cfg (format as image.DecodeConfig
// names it, raw its bytes) takes in memory, by its colour model: the
// pixels, plus a progressive JPEG's coefficients (4 bytes for each sample
// of each component, counted without subsampling).
func decodeBytes(cfg image.Config, format string, raw []byte) int64 {
	pixels := int64(cfg.Width) * int64(cfg.Height)
	total := pixels * bytesPerPixel(cfg.ColorModel)
	if format == "jpeg" {
		if comps, progressive := jpegFrame(raw); progressive {
			total += pixels * 4 * int64(comps)
		}
	}
	return total
}

// bytesPerPixel is the size of one decoded pixel of model; 8 (the most
// any Go image type holds) for a model it does not know.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3 // 4:4:4; subsampled ones take less
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel, color.NYCbCrAModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

// jpegFrame finds a JPEG's frame header: its number of components and
// whether it is progressive (SOF2). It reads markers only, up to the
// first frame header; anything it cannot follow counts as progressive
// with 4 components, the costliest case.
func jpegFrame(b []byte) (components int, progressive bool) {
	const worst = 4
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return worst, true
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return worst, true
		}
		marker := b[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7): // no length
			i += 2
			continue
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 2 {
			return worst, true
		}
		if marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC {
			if i+10 > len(b) {
				return worst, true
			}
			// SOF2, SOF6, SOF10 and SOF14 are progressive.
			return int(b[i+9]), marker == 0xC2 || marker == 0xC6 || marker == 0xCA || marker == 0xCE
		}
		i += 2 + n
	}
	return worst, true
}
