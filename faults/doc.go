// Package faults is Yihao's fault suite (issue 8): while reports stream in
// over the web API, WeChat and Open311, it kills an instance, restarts
// PostgreSQL and so on, then checks that every report acknowledged to its
// sender is stored exactly once and that the instances serve again on
// their own.
//
// The web API's and Open311's senders are careful clients: each report
// has its Idempotency-Key (Open311's scoped to the suite's api_key, made
// by yihao token create --role open311), and a refusal or a broken
// connection is retried with it on the other instance. A report counts as
// acknowledged when a ticket number came back (Open311: its
// service_request_id, with the report's token); refusals on the way
// (503 with Retry-After, a refused connection) are counted apart.
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
//   - kill-instance: kill -9 one of two instances, start it again; with
//     sipp (if installed) calling the other instance meanwhile, answered
//     by agents registered through both: each call is in the calls table
//     once, answered as often as sipp counted it successful;
//   - restart-postgres: a fast shutdown of PostgreSQL and a start (what
//     pg_ctl restart -m fast does), the instances staying up; with sipp
//     calling meanwhile, as in kill-instance;
//   - kill-mid-push: an instance killed with WeChat pushes in hand (held
//     on purpose by a lock on the tickets table); WeChat's retries to the
//     other instance must store every one, never answer "success" for it;
//   - kill-mid-commit: an instance killed in the middle of a group commit
//     (new tickets are inserted in batches): its batch's statement waiting
//     in PostgreSQL for a lock the test holds, more web reports queued
//     behind it. Sent again to the other instance, each report is stored
//     exactly once, and every ticket is whole (its event, its message, a
//     delivery per endpoint);
//   - stop-redis: Redis stopped for 3 s and started again on its port,
//     empty (the suite runs it without persistence). Every door must take
//     every report meanwhile, with no refusal; what /readyz answers while
//     Redis is away is recorded (503), and it must answer 200 again on
//     its own. The agents' registrations were in Redis alone: every
//     instance's acd.Keeper must put them back, and calls placed after
//     Redis returned must all be answered;
//   - forwarding-endpoint: the forwarding endpoint (a webhook receiver in
//     the test, which every instance forwards every dispatched ticket to)
//     answers 503 for 4 s. Afterwards every dispatched ticket's delivery
//     has reached it, none taken twice; then the same over the whole run
//     (line fault=all channel=webhook), after every fault before it.
//
// The sip lines of kill-instance and restart-postgres count calls: sent by
// sipp, acknowledged (successful: answered, talked, hung up), stored
// (answered in the calls table), duplicated (rows beyond one per Call-ID),
// lost (successful and not answered there). A call refused with 503 and
// Retry-After is counted as refused and dialled again after the fault
// (redialled=), as its caller would; it must also reach the calls table
// once the store is back, as a failed call under its marked Call-ID
// (refused_logged=), so its caller is on the callback list. Any other
// failure fails the fault. The webhook line counts deliveries: sent are the
// dispatched tickets' deliveries, acknowledged those the database marks
// delivered, stored the distinct delivery ids the receiver took
// (X-Yihao-Delivery), duplicated the ones it took more than once.
//
// YIHAO_FAULTS_RATE sets the reports per second on each channel (default
// 30).
package faults
