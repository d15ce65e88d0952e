# The two commands of the README: `make run` and `make test`.
# Everything they need is installed here; nothing is installed by hand.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= aiops-data
HOST ?= 127.0.0.1
PORT ?= 8080
# Extra pip arguments for torch, e.g. an index that serves the CPU build on your machine.
TORCH_PIP_ARGS ?=

.PHONY: setup run test test-deps lint bench bench-all clean

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned, so sentence-transformers does not pull a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/pip install --quiet -e '.[ml,dev]'
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/aiops --data-dir $(DATA_DIR) demo --host $(HOST) --port $(PORT)

test-deps:
	scripts/install-test-deps.sh

test: setup test-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

# Each writes its section of docs/benchmarks.md; the quality ones take minutes to half an hour.
bench: setup test-deps
	$(BIN)/python benchmarks/ingest.py --write-docs
	$(BIN)/python benchmarks/memory.py --write-docs
	$(BIN)/python -m benchmarks.text_model --write-docs
	$(BIN)/python -m benchmarks.text_templates --write-docs
	$(BIN)/python -m benchmarks.linker_cost --write-docs
	$(BIN)/python -m benchmarks.sources --write-docs
	$(BIN)/python -m benchmarks.live_pace --write-docs
	$(BIN)/python -m benchmarks.retention --postgres --write-docs
	$(BIN)/python -m benchmarks.metrics_scrape --write-docs

bench-all: bench
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.correlation.run --write-docs
	$(BIN)/python -m benchmarks.correlation.run --topologies rings:600 --write-docs --docs-section correlation-rings
	$(BIN)/python -m benchmarks.correlation.run --delay-scale 3 --write-docs --docs-section correlation-slow
	$(BIN)/python -m benchmarks.correlation.run --seeds 61,62,63 --write-docs --docs-section correlation-fresh
	$(BIN)/python -m benchmarks.correlation.run --hop-weights 0.1,0.8,0.1 --write-docs --docs-section correlation-placed
	$(BIN)/python -m benchmarks.realism --placement 0.5,0.35,0.15 0.1,0.8,0.1
	$(BIN)/python -m benchmarks.remediation --write-docs
	$(BIN)/python -m benchmarks.root_priors --write-docs
	$(BIN)/python -m benchmarks.feedback --write-docs
	$(BIN)/python -m benchmarks.causal --write-docs
	$(BIN)/python benchmarks/topology_scale.py --postgres --write-docs

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache .ruff_cache
