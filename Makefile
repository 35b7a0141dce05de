# MiniVNA set-up commands. Both install what they need first (scripts/install-deps.sh).
#   make run    build the release binary and run the archive's current main job
#   make test   build once, then run every test: Swift unit tests, the pydicom oracle, the fuzzer
.PHONY: deps run test build build-release swift-test oracle fuzz bench fixtures

FILE ?= Fixtures/ct/ct_0001.dcm
FUZZ_SECONDS ?= 60

deps:
	bash scripts/install-deps.sh

build-release: deps
	swift build -c release --product minivna

# Until `serve` lands (issue 3), the main job is `minivna dump`: print a DICOM file as DICOM JSON.
run: build-release
	.build/release/minivna dump $(FILE)

build: deps
	swift build --build-tests

swift-test: build
	swift test --skip-build

oracle: build
	MINIVNA_BIN=$(CURDIR)/.build/debug/minivna python3 -m pytest -q Tests/oracle

fuzz: deps
	bash Fuzz/run.sh $(FUZZ_SECONDS)

test: build
	swift test --skip-build
	MINIVNA_BIN=$(CURDIR)/.build/debug/minivna python3 -m pytest -q Tests/oracle
	bash Fuzz/run.sh $(FUZZ_SECONDS)

bench: build-release
	python3 Benchmarks/header_parse.py --minivna .build/release/minivna

fixtures: deps
	python3 Fixtures/generate.py
