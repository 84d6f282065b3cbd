// Package media takes citizens' photos in: it checks what they really are,
// caps their size, removes EXIF (after reading GPS, which may locate the
// report) and keeps them on disk under the data directory.
package media

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "golang.org/x/image/webp" // registers the WebP decoder with image.Decode

	"github.com/yihao-city/yihao/ticketing"
)

// Limits on one photo.
const (
	DefaultMaxBytes  = 10 << 20   // as uploaded
	DefaultMaxPixels = 50_000_000 // decoded size, so a small file cannot expand into gigabytes
)

// Disk stores photos as files under a directory, one folder per day.
type Disk struct {
	dir       string
	MaxBytes  int64
	MaxPixels int
	// MaxDecodeBytes caps the memory one decode takes, by the photo's
	// colour model and bit depth as well as its pixels.
	MaxDecodeBytes int64
	now            func() time.Time
	// decoding bounds concurrent decodes: a 50-megapixel photo costs
	// hundreds of MB while it is decoded, so a burst of them must queue.
	decoding chan struct{}
}

// NewDisk returns a store rooted at dir (created if needed).
func NewDisk(dir string) (*Disk, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	return &Disk{dir: dir, MaxBytes: DefaultMaxBytes, MaxPixels: DefaultMaxPixels, MaxDecodeBytes: DefaultMaxDecodeBytes, now: time.Now,
		decoding: make(chan struct{}, runtime.NumCPU())}, nil
}

// Photo is a checked, cleaned image ready to store.
type Photo struct {
	data        []byte // re-encoded, no metadata
	contentType string
	digest      string           // SHA-256 of the bytes as received
	GPS         *ticketing.Point // from EXIF, if the camera recorded it
}

// Prepare reads one upload (at most MaxBytes), checks that it is a JPEG,
// PNG or WebP by its content, not its name, and re-encodes it without
// metadata. Nothing is written to disk yet, so a report with one bad photo
// among several changes nothing.
func (d *Disk) Prepare(r io.Reader) (*Photo, error) {
	raw, err := io.ReadAll(io.LimitReader(r, d.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("media: read upload: %w", err)
	}
	if int64(len(raw)) > d.MaxBytes {
		return nil, &ticketing.Error{Kind: ticketing.KindTooLarge, Field: "photos",
			Message: fmt.Sprintf("each photo must be at most %d MB", d.MaxBytes>>20)}
	}
	sniffed := http.DetectContentType(raw)
	switch sniffed {
	case "image/jpeg", "image/png", "image/webp":
	default:
		return nil, &ticketing.Error{Kind: ticketing.KindUnsupported, Field: "photos",
			Message: "only JPEG, PNG or WebP photos are accepted; this file is " + sniffed}
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, ticketing.Invalid("photos", "the photo cannot be read: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > int64(d.MaxPixels) {
		return nil, &ticketing.Error{Kind: ticketing.KindTooLarge, Field: "photos",
			Message: fmt.Sprintf("the photo is %d×%d pixels; the limit is %d megapixels", cfg.Width, cfg.Height, d.MaxPixels/1_000_000)}
	}
	if need := decodeBytes(cfg, format, raw); need > d.MaxDecodeBytes {
		return nil, &ticketing.Error{Kind: ticketing.KindTooLarge, Field: "photos",
			Message: fmt.Sprintf("the photo is %d×%d pixels of %s and would take %d MB to read; the limit is %d MB: send a smaller or 8-bit photo",
				cfg.Width, cfg.Height, format, need>>20, d.MaxDecodeBytes>>20)}
	}
	d.decoding <- struct{}{}
	defer func() { <-d.decoding }()
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, ticketing.Invalid("photos", "the photo cannot be read: %v", err)
	}
	p := &Photo{contentType: "image/jpeg"}
	sum := sha256.Sum256(raw)
	p.digest = hex.EncodeToString(sum[:])
	if sniffed == "image/jpeg" {
		if x, ok := readEXIF(raw); ok {
			if x.hasGPS && x.lat >= -90 && x.lat <= 90 && x.lon >= -180 && x.lon <= 180 && (x.lat != 0 || x.lon != 0) {
				p.GPS = &ticketing.Point{Lat: x.lat, Lon: x.lon}
			}
			img = orient(img, x.orientation)
		}
	}
	var buf bytes.Buffer
	if sniffed == "image/png" {
		p.contentType = "image/png"
		err = png.Encode(&buf, img)
	} else {
		// WebP has no encoder in the standard library; JPEG is what every
		// desk and department system can show.
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	}
	if err != nil {
		return nil, fmt.Errorf("media: encode: %w", err)
	}
	p.data = buf.Bytes()
	return p, nil
}

// Save writes a prepared photo and returns its attachment record.
func (d *Disk) Save(p *Photo) (ticketing.Attachment, error) {
	ext := ".jpg"
	if p.contentType == "image/png" {
		ext = ".png"
	}
	id := filepath.ToSlash(filepath.Join(d.now().UTC().Format("2006/01/02"), strings.ToLower(rand.Text())+ext))
	path := filepath.Join(d.dir, filepath.FromSlash(id))
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return ticketing.Attachment{}, fmt.Errorf("media: %w", err)
	}
	// Durable before the ticket that names it is committed: the store
	// syncs its commit, so the photo must be on disk first.
	if err := writeSynced(path, p.data); err != nil {
		return ticketing.Attachment{}, fmt.Errorf("media: %w", err)
	}
	return ticketing.Attachment{ID: id, ContentType: p.contentType, Size: int64(len(p.data)), SHA256: p.digest}, nil
}

// writeSynced writes data to path through a temporary file, syncing the
// file and its directory so a crash leaves either nothing or all of it.
func writeSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	return errors.Join(dir.Sync(), dir.Close())
}

// Digest is the SHA-256 of the photo as received (for idempotency fingerprints).
func (p *Photo) Digest() string { return p.digest }

// Remove deletes stored attachments, used when the report they belonged to
// was refused or turned out to be a replay.
func (d *Disk) Remove(atts []ticketing.Attachment) {
	for _, a := range atts {
		if path, ok := d.path(a.ID); ok {
			_ = os.Remove(path)
		}
	}
}

// Open returns a stored photo for reading.
func (d *Disk) Open(id string) (*os.File, error) {
	path, ok := d.path(id)
	if !ok {
		return nil, ticketing.ErrNotFound
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return nil, ticketing.ErrNotFound
	}
	return os.Open(path)
}

// path maps an id to a file inside the store, refusing anything that could escape it.
func (d *Disk) path(id string) (string, bool) {
	if id == "" || strings.Contains(id, "..") || strings.HasPrefix(id, "/") || strings.ContainsRune(id, '\\') {
		return "", false
	}
	return filepath.Join(d.dir, filepath.FromSlash(id)), true
}
