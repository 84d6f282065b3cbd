// Package ticketing is Yihao's domain: the citizen's Report, the Ticket
// (工单) it becomes, the workflow a ticket walks (受理 → 立案 → 派遣 → 签收 →
// 处置 → 核查 → 结案 → 评价, with returns, extensions, rework and merges), the
// append-only event log, the deadlines and their lights, the calls, agents
// and staff, and who may read what.
//
// It imports nothing of Yihao's but its own internal packages: the doors
// (channels/...), the desks, routing and the stores all point at it. What it
// needs from outside it declares as interfaces of its own — Store and its
// parts for the two stores (ticketing/postgres, ticketing/sqlite, both held
// to ticketing/storetest), Router for routing — and cmd/yihao wires them.
//
// Where the invariants live:
//   - which action may be taken in which state is one table, workflow.go's
//     (Ticket.Can; testdata/workflow.txt shows it as text), read by the
//     Ticket methods, the desks' buttons and Open311's reopening alike;
//   - a state change is a Ticket method that checks the transition and
//     appends its event, so no door can move a ticket without a record;
//   - Service.Submit is idempotent on (channel, external id), so a report
//     acknowledged to a citizen exists once whatever is retried;
//   - one ticket is written in one transaction with its events and outbox
//     rows (Store.Update), so a forwarder never sees half a change;
//   - access.go is the one read policy every door applies (a liaison sees
//     its department's tickets, phone numbers masked);
//   - errors come in a few kinds (errors.go) that each transport maps to
//     its own status codes once.
package ticketing
