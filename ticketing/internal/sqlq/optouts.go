package sqlq

import (
	"context"
	"strings"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

// OptOut records an opt-out; the first record stays.
func (w Writer[T, N]) OptOut(ctx context.Context, address, via string, at time.Time) error {
	if strings.TrimSpace(address) == "" {
		return ticketing.Invalid("address", "is required")
	}
	return w.exec(ctx, `INSERT INTO notice_optouts (address, via, at) VALUES (?, ?, ?)
		ON CONFLICT (address) DO NOTHING RETURNING address`, address, via, w.D.Time(at))
}

// OptIn deletes an opt-out.
func (w Writer[T, N]) OptIn(ctx context.Context, address string) error {
	return w.exec(ctx, `DELETE FROM notice_optouts WHERE address = ? RETURNING address`, address)
}

// OptedOut reports whether address opted out.
func (r Reader[T, N]) OptedOut(ctx context.Context, address string) (bool, error) {
	var n int
	err := r.DB.QueryRow(ctx, r.D.Rebind(`SELECT count(*) FROM notice_optouts WHERE address = ?`), address).Scan(&n)
	return n > 0, r.D.Translate(err)
}

// exec runs a write that returns rows (DB has no Exec) and reads them to
// the end, so the statement has run whatever the driver.
func (w Writer[T, N]) exec(ctx context.Context, query string, args ...any) error {
	rows, err := w.DB.Query(ctx, w.D.Rebind(query), args...)
	if err != nil {
		return w.D.Translate(err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
	}
	return w.D.Translate(rows.Err())
}
