# Two commands do all the set-up on a fresh clone with only Python 3.11:
#   make run    venv, install, init, demo data, serve on http://127.0.0.1:8000
#   make test   venv, install, lint, types, import contracts, the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint test-only bench openapi init demo clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

init: $(STAMP)
	$(BIN)/trustctl init

demo: init
	$(BIN)/trustctl demo load

run: demo
	@echo ""
	@echo "  一网通办信任服务   http://$(HOST):$(PORT)/"
	@echo "  API documentation  http://$(HOST):$(PORT)/docs"
	@echo "  OpenAPI contract   http://$(HOST):$(PORT)/openapi.json"
	@echo "  Health             http://$(HOST):$(PORT)/healthz  http://$(HOST):$(PORT)/readyz"
	@echo ""
	$(BIN)/trustctl serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test-only: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint test-only

bench: $(STAMP)
	$(BIN)/python -m bench

openapi: $(STAMP)
	$(BIN)/python -m trust.web.openapi_export > openapi.yaml

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
