package ticketing

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSupplement(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	tk := &Ticket{Status: StatusReceived, Attachments: []Attachment{{ID: "a"}}}
	err := tk.Supplement(at, "citizen", Supplement{Text: "就在公交站旁边", Attachments: []Attachment{{ID: "b"}, {ID: "c"}},
		Location: &Point{Lat: 39.9, Lon: 116.4}, Address: "和平路12号"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tk.Attachments) != 3 || tk.Location == nil || tk.Address != "和平路12号" {
		t.Fatalf("ticket after the supplement: %+v", tk)
	}
	ev := tk.PendingEvents()[0]
	if ev.Type != EventSupplemented || ev.To != StatusReceived || !strings.Contains(ev.Public, "位置、地址、2 张照片：就在公交站旁边") {
		t.Fatalf("event: %+v", ev)
	}
	// A later location does not move the ticket; nothing to add is refused.
	if err := tk.Supplement(at, "citizen", Supplement{Location: &Point{Lat: 1, Lon: 1}}); err != nil || tk.Location.Lat != 39.9 {
		t.Fatalf("second location: %v %+v", err, tk.Location)
	}
	for name, s := range map[string]Supplement{
		"empty":     {Text: "  "},
		"too many":  {Attachments: make([]Attachment, 3)},
		"control":   {Text: "a\x00b"},
		"bad point": {Location: &Point{Lat: 91}},
		"long":      {Text: strings.Repeat("长", MaxTextRunes+1)},
	} {
		if err := tk.Supplement(at, "citizen", s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	closed := &Ticket{Status: StatusClosed}
	var te *TransitionError
	if err := closed.Supplement(at, "citizen", Supplement{Text: "x"}); !errors.As(err, &te) {
		t.Fatalf("supplement to a closed ticket: %v", err)
	}
}

// A supplement's key is checked like the rest of it; the change takes a
// valid one, and only once.
func TestSupplementKey(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for name, key := range map[string]string{
		"control":   "wechat:msg:1\x00",
		"too long":  strings.Repeat("k", MaxSupplementKeyLen+1),
		"not utf-8": "wechat:\xff",
	} {
		tk := &Ticket{Status: StatusReceived}
		var e *Error
		if err := tk.Supplement(at, "citizen", Supplement{Text: "x", Key: key}); !errors.As(err, &e) || e.Kind != KindInvalid || e.Field != "key" {
			t.Errorf("%s: %v, want invalid key", name, err)
		}
		if len(tk.PendingEvents()) != 0 || len(tk.PendingKeys()) != 0 {
			t.Errorf("%s: the refused supplement left a change", name)
		}
	}
	tk := &Ticket{Status: StatusReceived}
	for _, key := range []string{" wechat:msg:1 ", "wechat:msg:1", "", strings.Repeat("k", MaxSupplementKeyLen)} {
		if err := tk.Supplement(at, "citizen", Supplement{Text: "x", Key: key}); err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
	}
	if got, want := tk.PendingKeys(), []string{"wechat:msg:1", strings.Repeat("k", MaxSupplementKeyLen)}; !slices.Equal(got, want) {
		t.Fatalf("pending keys %q, want %q", got, want)
	}
	tk.ClearPending()
	if len(tk.PendingKeys()) != 0 {
		t.Fatal("ClearPending kept the keys")
	}
}
