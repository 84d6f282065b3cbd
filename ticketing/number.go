package ticketing

import (
	"fmt"
	"time"
)

// Ticket numbers are what a citizen reads over the phone, so they are short,
// digits only, and carry a check digit: YYMMDD (the day received, in the
// city's time zone) + 7 digits from the store's unique id + 1 Damm check
// digit = 14 digits. The id is unique across instances (a database
// sequence), so the number is too; the 7 digits wrap only past ten million
// tickets in one day. The Damm digit catches every single-digit typo and
// every swap of adjacent digits.

// NumberLen is the length of every ticket number.
const NumberLen = 14

// FormatNumber builds the public number for a ticket id received at day.
func FormatNumber(id int64, day time.Time) string {
	body := fmt.Sprintf("%s%07d", day.Format("060102"), id%10_000_000)
	return body + string(rune('0'+damm(body)))
}

// ValidNumber reports whether s is well formed with a correct check digit,
// so a mistyped number is refused before it reaches the store.
func ValidNumber(s string) bool {
	if len(s) != NumberLen {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return damm(s) == 0
}

// dammTable is the quasigroup of order 10 (weakly totally anti-symmetric)
// from H. Michael Damm's 2004 thesis.
var dammTable = [10][10]byte{
	{0, 3, 1, 7, 5, 9, 8, 6, 4, 2},
	{7, 0, 9, 2, 1, 5, 4, 8, 6, 3},
	{4, 2, 0, 6, 8, 7, 1, 3, 5, 9},
	{1, 7, 5, 0, 9, 8, 3, 4, 2, 6},
	{6, 1, 2, 3, 0, 4, 5, 9, 7, 8},
	{3, 6, 7, 4, 2, 0, 9, 5, 8, 1},
	{5, 8, 6, 9, 7, 2, 0, 1, 3, 4},
	{8, 9, 4, 5, 3, 6, 2, 0, 1, 7},
	{9, 4, 3, 8, 6, 1, 7, 2, 0, 5},
	{2, 5, 8, 1, 4, 3, 6, 7, 9, 0},
}

func damm(digits string) int {
	var interim byte
	for i := 0; i < len(digits); i++ {
		interim = dammTable[interim][digits[i]-'0']
	}
	return int(interim)
}
