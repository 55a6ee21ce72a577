# The two commands of README.md: `make run` and `make test`.
GO ?= go

.PHONY: run test deps check unit race crash fuzz bench build

# run builds the binary and replaces make with it, so Ctrl-C and SIGTERM reach Treu.
# ARGS go to treu serve: make run ARGS="--listen :9090 --data /tmp/x"
run:
	$(GO) build -o treu ./cmd/treu && exec ./treu serve $(ARGS)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o treu ./cmd/treu

# test installs what is missing, then runs every check CI runs.
test: deps check race crash fuzz

deps:
	./scripts/deps.sh

check:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 ./...

race:
	$(GO) test -race -count=1 -timeout 20m ./...

# crash runs the kill -9 test at full size (20,000 mails, a child process),
# which race skips: under -race the child sends ~10x slower.
crash:
	$(GO) test -count=1 -run '^TestKill9Resume20k$$' ./campaigns/

# fuzz runs every Fuzz target briefly; FUZZTIME=1m make fuzz for longer.
fuzz:
	./scripts/fuzz.sh $(or $(FUZZTIME),5s)

# bench prints issue #12's figures with their commands: the send figures
# (raw Postfix rate, Treu's rate and ratio, CPU per mail, RSS; scripts/bench.sh,
# which installs postfix if missing and runs the Go benchmarks), the campaign
# start's writer latency at 1M and the marketer's pages at 1M.
bench:
	GO=$(GO) ./scripts/bench.sh
	TREU_BENCH_START=1000000 $(GO) test -run='^$$' -bench=StartWriterLatency -benchtime=1x ./campaigns/
	./scripts/bench_pages.sh
