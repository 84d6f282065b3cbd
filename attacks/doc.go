// Package attacks is Yihao's attack suite: tests that build the yihao
// binary, run it on each store (the embedded SQLite store with in-process
// state, and PostgreSQL with Redis) and attack it from outside over real
// HTTP and SIP, as someone on the internet would. Each test names the hole
// it tries and checks both that the attack fails and that nothing changed.
//
// The harness (harness_test.go) starts servers and drives the command line;
// every other file is one door's attacks. SECURITY.md at the top of the
// repository says what each door trusts.
package attacks
