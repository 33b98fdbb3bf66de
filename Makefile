# Every target creates .venv and installs the project on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= 0.05

.PHONY: help demo test test-fast lint serve profile nightly bench-harness bench-runtime \
        bench-profiling bench-report bench-detection bench clean

help:
	@echo "make demo       start the reference runtime, run scenarios/smoke.yaml, write a report"
	@echo "make test       run the test suite"
	@echo "make lint       ruff + mypy"
	@echo "make serve      reference runtime + model backend in the foreground (127.0.0.1:8080)"
	@echo "make profile    CPU (py-spy) + memory (memray) profile of scenarios/profile.yaml"
	@echo "make nightly    nightly suite at SCALE=$(SCALE), history + compare + index pages"
	@echo "make bench-*    harness | runtime | profiling | report | detection"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The demo shows the verdict; a failed gate (exit 1) is a result to read, not a broken demo.
demo: $(STAMP)
	$(BIN)/harness run scenarios/smoke.yaml --gate; rc=$$?; [ $$rc -le 1 ]

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser"

lint: $(STAMP)
	$(BIN)/ruff check harness reference_runtime tests bench
	$(BIN)/ruff format --check harness reference_runtime tests bench
	$(BIN)/mypy harness reference_runtime

serve: $(STAMP)
	$(BIN)/reference-runtime serve --host 127.0.0.1 --port 8080 --state-dir .state

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

bench: bench-harness bench-runtime bench-profiling bench-report bench-detection

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
