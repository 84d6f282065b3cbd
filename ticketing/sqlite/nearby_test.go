package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yihao-city/yihao/ticketing/sqlite"
)

// The duplicate search uses the index of open cases (migration 00029): its
// WHERE must hold the index's terms as the index writes them, or SQLite
// reads every case of the category's latitude band instead.
func TestNearbyPlan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "yihao.db")
	open(t, path) // migrates
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+sqlite.NearbySQL,
		"0210", 39.9, 39.9009, 116.4, 116.4012, time.Now().Add(-72*time.Hour).UnixMicro(), 50)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(plan, "; "), "USING INDEX tickets_open_category_place") {
		t.Errorf("the duplicate search runs %q, want a search of tickets_open_category_place", plan)
	}
}
