# The README's commands. `make test` is what CI runs (.ci/run).
GO ?= go

.PHONY: run test vet build fuzz bench

run:
	$(GO) run ./cmd/webhookd

build:
	$(GO) build -o bin/webhookd ./cmd/webhookd

vet:
	$(GO) vet ./...

# The whole suite: static checks, then every package's tests under the race
# detector, end-to-end tests (test/) included.
test: vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -race -count=1 -timeout 12m ./...

# Short fuzzing runs of every parser (not part of `make test`).
fuzz:
	$(GO) test ./bus -run '^$$' -fuzz FuzzParseEnvelope -fuzztime 30s
	$(GO) test ./bus -run '^$$' -fuzz FuzzParsePattern -fuzztime 30s
