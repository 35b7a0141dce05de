# MiniVNA set-up commands. Both install what they need first (scripts/install-deps.sh).
#   make run    build the release binary, load the demo data (demo-data and Fixtures) and serve the archive
#   make test   build once, then run every test: Swift unit/route tests, the pydicom oracle,
#               the black-box suite against the real server, the fuzzer, and the container test
.PHONY: deps run dump test build build-release swift-test oracle blackbox fuzz bench fixtures container-test

FILE ?= Fixtures/ct/ct_0001.dcm
FUZZ_SECONDS ?= 60
HOST ?= 127.0.0.1
PORT ?= 8080
DATA ?= ./minivna-data

deps:
	bash scripts/install-deps.sh

build-release: deps
	swift build -c release --product minivna

# The archive with demo data on the embedded SQLite default: DICOMweb at http://$(HOST):$(PORT)/dicom-web
run: build-release
	.build/release/minivna demo-data --data $(DATA)
	.build/release/minivna import --quiet --data $(DATA) Fixtures/ct Fixtures/mr Fixtures/multiframe Fixtures/jpeg2000 Fixtures/charsets
	eval "$$(bash scripts/demo-credentials.sh $(DATA))" && .build/release/minivna serve --host $(HOST) --port $(PORT) --data $(DATA)

# Print one file as DICOM JSON.
dump: build-release
	.build/release/minivna dump $(FILE)

build: deps
	swift build --build-tests

swift-test: build
	swift test --skip-build

oracle: build
	MINIVNA_BIN=$(CURDIR)/.build/debug/minivna python3 -m pytest -q Tests/oracle

fuzz: deps
	bash Fuzz/run.sh $(FUZZ_SECONDS)

blackbox: build
	MINIVNA_BIN=$(CURDIR)/.build/debug/minivna python3 -m pytest -q Tests/blackbox

test: build
	swift test --skip-build
	MINIVNA_BIN=$(CURDIR)/.build/debug/minivna python3 -m pytest -q Tests/oracle Tests/blackbox
	bash Fuzz/run.sh $(FUZZ_SECONDS)
	bash Tests/container/run.sh $(CURDIR)/.build/debug/minivna

# The Docker demo image built with podman around the debug binary, run and checked over HTTP (root).
container-test: build
	bash Tests/container/run.sh $(CURDIR)/.build/debug/minivna

bench: build-release
	python3 Benchmarks/header_parse.py --minivna .build/release/minivna

fixtures: deps
	python3 Fixtures/generate.py
