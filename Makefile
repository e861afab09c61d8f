# govloop: `make run` for the embedded demo, `make test` for the whole suite.
# Needs only Python >= 3.11 and make: the first target creates .venv and installs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CLIENT := clients/python
# The server imports the client's scorer (one implementation), so both installs include it.
DEPS := $(shell cat pyproject.toml $(CLIENT)/pyproject.toml | cksum | cut -d' ' -f1)
STAMP_RUN := $(VENV)/.installed-run-$(DEPS)
STAMP_DEV := $(VENV)/.installed-dev-$(DEPS)

.PHONY: install install-dev run test lint format benchmark screenshot clean

# Installing shows pip's own progress (a line per package): the first run takes minutes.
$(BIN)/python:
	@echo "==> [1/2] creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# `make run` installs the runtime only; `make test` adds the dev tools (pytest, ruff, ...).
$(STAMP_RUN): pyproject.toml $(CLIENT)/pyproject.toml | $(BIN)/python
	@echo "==> [2/2] installing govloop and its dependencies into $(VENV) (a few minutes the first time)"
	$(BIN)/python -m pip install -e ./$(CLIENT) -e .
	@rm -f $(VENV)/.installed-run-*
	@touch $(STAMP_RUN)
	@echo "==> installed"

$(STAMP_DEV): pyproject.toml $(CLIENT)/pyproject.toml | $(BIN)/python
	@echo "==> [2/2] installing govloop, its dependencies and the dev tools into $(VENV) (a few minutes the first time)"
	$(BIN)/python -m pip install -e ./$(CLIENT) -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP_DEV) $(STAMP_RUN)
	@echo "==> installed"

install: $(STAMP_RUN)

install-dev: $(STAMP_DEV)

run: install
	DEBUG=1 $(BIN)/python scripts/run.py

test: install-dev
	$(BIN)/python scripts/with_services.py -- $(BIN)/python -m pytest $(ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerates docs/control-room.png (the README's picture) from the seeded demo in Chromium.
screenshot: install-dev
	UPDATE_SCREENSHOTS=1 $(BIN)/python scripts/with_services.py -- $(BIN)/python -m pytest \
		tests/browser/test_reviewer_pages_layout.py -k control_room_screenshot -p no:randomly

benchmark: install-dev
	$(BIN)/python scripts/with_services.py -- $(BIN)/python scripts/benchmark.py $(ARGS)

clean:
	rm -rf $(VENV) var staticfiles
