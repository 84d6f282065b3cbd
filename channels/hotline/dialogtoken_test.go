package hotline

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// A token names the dialog's two hops, and only for the Call-ID and the
// caller's tag it was minted for, by a holder of the same secret, while
// the call may last. Any byte changed (the hops above all: that would
// send requests elsewhere) makes it forged.
func TestDialogTokens(t *testing.T) {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	dt := dialogTokens{key: []byte("0123456789abcdef0123456789abcdef"), ttl: 4 * time.Hour}
	caller, agent := hop{"203.0.113.7:5060", "UDP"}, hop{"[2001:db8::5]:49152", "TCP"}
	tok, err := dt.mint("call-1@carrier", "tag-c", caller, agent, now)
	if err != nil {
		t.Fatal(err)
	}
	c, a, err := dt.verify(tok, "call-1@carrier", "tag-c", now.Add(time.Hour))
	if err != nil || c != caller || a != agent {
		t.Fatalf("verify: %v %v %v; want %v %v", c, a, err, caller, agent)
	}

	if strings.TrimLeft(tok, "0123456789abcdef") != "" {
		t.Errorf("token %q: want lower-case hex, which spells no header's name", tok)
	}
	raw, _ := hex.DecodeString(tok)
	// A token minted in base64url, by an instance not yet upgraded, is
	// still good for its calls.
	if c, a, err := dt.verify(base64.RawURLEncoding.EncodeToString(raw), "call-1@carrier", "tag-c", now); err != nil || c != caller || a != agent {
		t.Errorf("the same token in base64url: %v %v %v; want %v %v", c, a, err, caller, agent)
	}
	for i := range raw {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		if _, _, err := dt.verify(hex.EncodeToString(b), "call-1@carrier", "tag-c", now); !errors.Is(err, errTokenForged) {
			t.Errorf("byte %d flipped: %v, want forged", i, err)
		}
	}
	other := dialogTokens{key: []byte("another deployment's secret key"), ttl: dt.ttl}
	for _, tc := range []struct {
		name, tok, callID, tag string
		dt                     dialogTokens
	}{
		{"other Call-ID", tok, "call-2@carrier", "tag-c", dt},
		{"other tag", tok, "call-1@carrier", "tag-x", dt},
		{"other secret", tok, "call-1@carrier", "tag-c", other},
		{"empty", "", "call-1@carrier", "tag-c", dt},
		{"neither hex nor base64", "!!!", "call-1@carrier", "tag-c", dt},
		{"truncated", tok[:20], "call-1@carrier", "tag-c", dt},
		{"too long", tok + tok, "call-1@carrier", "tag-c", dt},
	} {
		if _, _, err := tc.dt.verify(tc.tok, tc.callID, tc.tag, now); !errors.Is(err, errTokenForged) {
			t.Errorf("%s: %v, want forged", tc.name, err)
		}
	}
	// The lengths are signed too: "ab"+"c" is not "a"+"bc".
	t2, _ := dt.mint("ab", "c", caller, agent, now)
	if _, _, err := dt.verify(t2, "a", "bc", now); !errors.Is(err, errTokenForged) {
		t.Errorf("Call-ID and tag split elsewhere: %v, want forged", err)
	}
	if _, _, err := dt.verify(tok, "call-1@carrier", "tag-c", now.Add(dt.ttl+time.Second)); !errors.Is(err, errTokenExpired) {
		t.Errorf("after the longest call: %v, want expired", err)
	}
	if _, _, err := dt.verify(tok, "call-1@carrier", "tag-c", now.Add(-2*time.Minute)); !errors.Is(err, errTokenExpired) {
		t.Errorf("minted in the future: %v, want expired", err)
	}
	if _, err := dt.mint("c", "t", hop{"phone.example:5060", "UDP"}, agent, now); err == nil {
		t.Error("a hop that is no address was minted")
	}
	if _, err := dt.mint("c", "t", caller, hop{"192.0.2.1:5060", "SCTP"}, now); err == nil {
		t.Error("an unknown transport was minted")
	}
}
