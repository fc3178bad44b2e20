# The two Quickstart commands: `make run` and `make test`. Nothing here needs root.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RULES  ?= rules/examples/quickstart
DATA   ?= var

.PHONY: run test install lint bench clean

$(BIN)/triaged: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/triaged

run: install
	$(BIN)/triaged run --rules $(RULES) --data $(DATA)

test: install
	$(BIN)/triaged rules test rules/examples/product rules/examples/product/tests/example_test.yaml
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache
