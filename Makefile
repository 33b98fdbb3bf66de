# Every target creates .venv and installs the project on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= 0.05

.PHONY: help demo demo-regression demo-postgres test test-fast lint serve profile nightly bench-harness bench-runtime \
        bench-profiling bench-report bench-detection bench chaos clean

help:
	@echo "make demo       start the reference runtime, run scenarios/smoke.yaml, write a report"
	@echo "make demo-regression  the same against a runtime with a fault on: FAIL with its hint"
	@echo "make demo-postgres    make demo with the runtime on PostgreSQL (a throwaway local server)"
	@echo "make test       run the test suite"
	@echo "make lint       ruff + mypy"
	@echo "make serve      reference runtime + model backend in the foreground (127.0.0.1:PORT, 8080)"
	@echo "make profile    CPU (py-spy) + memory (memray) profile of scenarios/profile.yaml"
	@echo "make nightly    nightly suite at SCALE=$(SCALE), history + compare + index pages"
	@echo "make bench-*    harness | runtime | profiling | report | detection"
	@echo "make chaos      reliability probes (~10 min): fuzz, kill -9, faults, hostile URLs, stops, disk, soak"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The demo shows the verdict; a failed gate (exit 1) is a result to read, not a broken demo.
demo: $(STAMP)
	$(BIN)/harness run scenarios/smoke.yaml --gate; rc=$$?; [ $$rc -le 1 ]

# A real finding: the smoke scenario against a runtime whose model calls fail half the time
# (docs/examples/regression-runtime.yaml). The gate must FAIL (exit 1); anything else is an error.
demo-regression: $(STAMP)
	$(BIN)/harness run scenarios/smoke.yaml --gate --config docs/examples/regression-runtime.yaml; rc=$$?; \
	  if [ $$rc -eq 1 ]; then echo "demo-regression: FAIL found, as expected"; \
	  else echo "demo-regression: expected gate FAIL (exit 1), got exit $$rc"; exit 1; fi

# make demo on PostgreSQL: a throwaway local server (initdb in a temp folder, stopped and removed
# afterwards), or the one in $$MOTHERBOX_DATABASE_URL when set. The runtime reads that variable.
demo-postgres: $(STAMP)
	$(BIN)/python -m reference_runtime.store.pgserver -- $(BIN)/harness run scenarios/smoke.yaml --gate; \
	  rc=$$?; [ $$rc -le 1 ]

# Two processes (pytest-xdist, work stealing): most tests wait on servers and subprocesses.
TEST_JOBS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_JOBS) --dist worksteal --durations=25

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser"

lint: $(STAMP)
	$(BIN)/ruff check harness reference_runtime tests bench
	$(BIN)/ruff format --check harness reference_runtime tests bench
	$(BIN)/mypy harness reference_runtime

# The key is in .state/api_key; `harness run --target` takes it as $$HARNESS_API_KEY or --api-key.
PORT ?= 8080
serve: $(STAMP)
	@echo 'API key in .state/api_key: HARNESS_API_KEY=$$(cat .state/api_key) $(BIN)/harness run ... --target http://127.0.0.1:$(PORT)'
	$(BIN)/reference-runtime serve --host 127.0.0.1 --port $(PORT) --state-dir .state

profile: $(STAMP)
	$(BIN)/harness profile scenarios/profile.yaml

nightly: $(STAMP)
	$(BIN)/harness nightly --time-scale $(SCALE)

bench-harness: $(STAMP)
	$(BIN)/python -m bench.harness_bench

bench-runtime: $(STAMP)
	$(BIN)/python -m bench.runtime_bench

bench-profiling: $(STAMP)
	$(BIN)/python -m bench.profiling_bench

bench-report: $(STAMP)
	$(BIN)/python -m bench.report_bench

bench-detection: $(STAMP)
	$(BIN)/python -m bench.detection_bench

# Reliability probes against real processes on loopback (bench/chaos); exit 1 when a row fails.
chaos: $(STAMP)
	$(BIN)/python -m bench.chaos --json reports/chaos.json

bench: bench-harness bench-runtime bench-profiling bench-report bench-detection

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
