package classify

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Example is one labelled message.
type Example struct {
	Text, Label string
	Line        int // line of the CSV record it came from, for error messages; 0 if none
}

// ReadCSV reads labelled examples from UTF-8 CSV whose header is exactly
// "text,label" (a leading byte-order mark is allowed). Text and label are
// trimmed of surrounding space. A broken record (wrong number of fields,
// empty text or label, invalid UTF-8, bad quoting) is an error naming its
// line, e.g. "line 17: want 2 fields (text,label), got 3".
func ReadCSV(r io.Reader) ([]Example, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // counted here, to give a clearer message
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("empty input: want a header line text,label")
	}
	if err != nil {
		return nil, csvError(err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\uFEFF")
	}
	if len(header) != 2 || header[0] != "text" || header[1] != "label" {
		return nil, fmt.Errorf("line 1: header must be exactly text,label, got %q", strings.Join(header, ","))
	}
	var out []Example
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != 2 {
			return nil, fmt.Errorf("line %d: want 2 fields (text,label), got %d", line, len(rec))
		}
		text, label := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		switch {
		case !utf8.ValidString(text):
			return nil, fmt.Errorf("line %d: text is not valid UTF-8", line)
		case !utf8.ValidString(label):
			return nil, fmt.Errorf("line %d: label is not valid UTF-8", line)
		case text == "":
			return nil, fmt.Errorf("line %d: empty text", line)
		case label == "":
			return nil, fmt.Errorf("line %d: empty label", line)
		}
		out = append(out, Example{Text: text, Label: label, Line: line})
	}
}

// csvError words a CSV syntax error as "line N: ...", N being the line where
// the broken record starts.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %w", pe.StartLine, pe.Err)
	}
	return err
}
