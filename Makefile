# The two commands: `make run` and `make test`. Both work on a fresh machine
# of the project's kind (Go, PostgreSQL and Redis installed); `make test`
# installs the headless browser its page tests need and starts the local
# PostgreSQL and Redis if they are installed but stopped.

# Go 1.27.3, fetched by the go command from the module proxy on first use:
# the machine's Go 1.26.8 has known vulnerabilities in net/http, crypto/tls,
# crypto/x509 and html/template that govulncheck finds on our call paths.
export GOTOOLCHAIN := go1.27.3

# The checkers `make lint` runs, built from the module proxy into .tools/,
# and the Go vulnerability database as a module snapshot (govulncheck reads
# its OSV files offline). Raise VULNDB to the newest version served to pick
# up new advisories.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0
ERRCHECK    := github.com/kisielk/errcheck@v1.30.0
VULNDB      := golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018
TOOLS       := $(CURDIR)/.tools

YIHAO_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
YIHAO_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
export YIHAO_TEST_DATABASE_URL YIHAO_TEST_REDIS_URL

.PHONY: run test bench deps services vet lint tools build

run:
	go run ./cmd/yihao --config configs/demo.yaml

build:
	go build -o yihao ./cmd/yihao

test: deps services vet lint
	go test -race -count=1 -timeout 20m ./...

# The Go benchmarks of the intake's and the calls' hot functions: the group
# commit's queue, a submit on each store, routing (rules, classifier, grid),
# an Open311 POST and the CTI webhook. The end-to-end figures are
# bench/sweep.sh's (BENCHMARKS.md).
bench: services
	go test -run '^$$' -benchmem -benchtime 2s \
		-bench '^Benchmark(Do|Submit|CallLog|Route|RouteFull|Predict|Locate|GazetteerFind|PostRequest|Webhook|EarlierTickets|SharedState|ServePush|Analyze)$$' \
		./ticketing/internal/groupcommit ./ticketing/postgres ./ticketing/sqlite ./routing ./routing/classify \
		./routing/grid ./channels/open311 ./channels/hotline ./redis ./channels/wechat ./knowledge

vet:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

# staticcheck; govulncheck against the pinned database (no known-vulnerable
# call path, standard library included); errcheck on everything but tests,
# with the deliberate exceptions listed in .errcheck-excludes.
lint: tools
	$(TOOLS)/staticcheck ./...
	$(TOOLS)/govulncheck -db file://$$(go env GOMODCACHE)/$(VULNDB)/data/osv ./...
	$(TOOLS)/errcheck -ignoretests -exclude .errcheck-excludes ./...

tools:
	@mkdir -p $(TOOLS)
	@[ -x $(TOOLS)/staticcheck ] || GOBIN=$(TOOLS) go install $(STATICCHECK)
	@[ -x $(TOOLS)/govulncheck ] || GOBIN=$(TOOLS) go install $(GOVULNCHECK)
	@[ -x $(TOOLS)/errcheck ] || GOBIN=$(TOOLS) go install $(ERRCHECK)
	@go mod download $(VULNDB)

# Debian's Chromium drives the browser tests (no browser download needed),
# with Noto CJK so the screenshots show the Chinese text; sipp (Debian's
# sip-tester) drives the SIP tests.
deps:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@command -v sipp >/dev/null 2>&1 || { \
		echo "installing sipp (sip-tester) for the SIP tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester >/dev/null; }
	@[ -d /usr/share/fonts/opentype/noto ] || { \
		echo "installing Noto CJK fonts for the screenshots"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; }

# Start the machine's PostgreSQL and Redis if they are installed but not running.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || { \
		command -v pg_ctlcluster >/dev/null 2>&1 && \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start && \
		for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; }
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
		command -v redis-server >/dev/null 2>&1 && \
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no && sleep 1; }
