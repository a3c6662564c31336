# tiledet: `make demo` sets everything up and runs the demo; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tiledet-installed
DEMO   ?= runs/demo

.PHONY: setup test lint demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check tiledet tests benchmarks
	$(BIN)/lint-imports

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 -q

demo: $(STAMP)
	$(BIN)/tiledet demo --out $(DEMO)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf runs .pytest_cache
