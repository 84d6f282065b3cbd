// Package faults is Yihao's fault suite (issue 8): while reports stream in
// over the web API and WeChat, it kills an instance, restarts PostgreSQL
// and so on, then checks that every report acknowledged to its sender is
// stored exactly once and that the instances serve again on their own.
//
// The suite is its tests (go test ./faults/). It starts what it needs on
// spare ports of 127.0.0.1 and never touches the machine's services: a
// PostgreSQL cluster made by initdb in a temporary directory (the binaries
// of /usr/lib/postgresql/*/bin, or PATH), a redis-server, and instances of
// the yihao binary built from this module. Without PostgreSQL's or Redis's
// binaries the tests are skipped; -short skips them too.
//
// Each fault prints one line per channel, for example
//
//	fault=kill-instance channel=web sent=210 acknowledged=210 stored=210 duplicated=0 lost=0 ...
//
// The faults so far:
//
//   - kill-instance: kill -9 one of two instances, start it again;
//   - restart-postgres: a fast shutdown of PostgreSQL and a start (what
//     pg_ctl restart -m fast does), the instances staying up;
//   - kill-mid-push: an instance killed with WeChat pushes in hand (held
//     on purpose by a lock on the tickets table); WeChat's retries to the
//     other instance must store every one, never answer "success" for it.
//
// YIHAO_FAULTS_RATE sets the reports per second on each channel (default
// 30).
package faults
