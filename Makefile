# The two commands: `make run` and `make test`. Both do all set-up themselves (Debian packages,
# virtual environment, Python packages), so they work on a fresh Debian machine as root.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint typecheck pytest bench lab system system-test clean agent

run: system $(STAMP)
	@bash scripts/ensure-udev.sh
	$(BIN)/sanitiser $(ARGS)

test: system-test $(STAMP) lint typecheck pytest

system:
	@bash scripts/install-system.sh

system-test:
	@bash scripts/install-system.sh --test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check sanitiser tests scripts
	$(BIN)/ruff format --check sanitiser tests scripts
	$(BIN)/lint-imports  # the house's layers: [tool.importlinter] in pyproject.toml

typecheck: $(STAMP)
	$(BIN)/mypy

# -n 2: the machine has two cores; `serial` tests (udev daemon, QEMU lab) run afterwards, alone.
pytest: $(STAMP)
	$(BIN)/pytest -n 2 -m "not serial" $(PYTEST_ARGS)
	$(BIN)/pytest -m "serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: no serial test selected

# The donor agent's boot image (kernel, initramfs, USB image) in build/agent; VARIANT=ci for the
# small test image. Debian packages come through apt (the bench's sources only); reproducible.
VARIANT ?= full
agent: system $(STAMP)
	$(BIN)/sanitiser agent build --variant $(VARIANT) --out build/agent

bench: system-test $(STAMP)
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
