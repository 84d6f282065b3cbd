package classify

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// ReadCSV takes files from outside (training data exported by hand from
// other systems): whatever the bytes, it returns examples that are trimmed,
// non-empty, valid UTF-8 and in line order, or an error naming the line.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"text,label\n路灯不亮,0210\n",
		"\uFEFFtext,label\r\n\"井盖丢了，很危险\", 0103 \n\n\"他说：\"\"退款\"\"\",consumer\n",
		"text,label\n路\"灯,0210\n",
		"text,label\n\"路灯,0210\n井盖,0103\n",
		"text,label\n\xff\xfe,0210\n",
		"message,label\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ex, err := ReadCSV(strings.NewReader(string(in)))
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "line ") && !strings.HasPrefix(msg, "empty input") {
				t.Fatalf("error %q names no line", msg)
			}
			return
		}
		last := 1
		for _, e := range ex {
			switch {
			case e.Text == "" || e.Label == "":
				t.Fatalf("empty field: %+v", e)
			case strings.TrimSpace(e.Text) != e.Text || strings.TrimSpace(e.Label) != e.Label:
				t.Fatalf("untrimmed: %+v", e)
			case !utf8.ValidString(e.Text) || !utf8.ValidString(e.Label):
				t.Fatalf("invalid UTF-8: %+v", e)
			case e.Line <= last:
				t.Fatalf("line %d after line %d", e.Line, last)
			}
			last = e.Line
		}
	})
}
