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

# Short fuzzing runs of every parser (not part of `make test`, which runs
# their seed corpora). FUZZTIME=5m make fuzz for a longer run.
FUZZTIME ?= 20s
FUZZ_TARGETS = ./bus:FuzzParseEnvelope ./bus:FuzzParsePattern \
	./admin:FuzzCreateBody ./admin:FuzzPatchBody ./admin:FuzzOptionalBodies \
	./admin:FuzzAuthorization ./admin:FuzzScopeClaim ./admin:FuzzMembers \
	./fanout:FuzzCheckURL ./fanout:FuzzSignVerifies ./fanout:FuzzParseSchedule \
	./kv:FuzzDecodeStats ./kv:FuzzDecodeDelivery ./kv:FuzzDecodeAttempt \
	./kv:FuzzDecodeJournalOp ./kv:FuzzJournalRecord \
	./cmd/webhookd:FuzzCgroupMemoryFile ./cmd/webhookd:FuzzParseSize

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$pkg $$fn"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done
