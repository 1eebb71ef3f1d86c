# gridgeo: `make demo` runs the main job on the bundled data, `make test` runs the suite.
# Both create .venv with python3 when it is missing and install gridgeo into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test test-slow lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/gridgeo demo --out out/demo

test: $(VENV)/.installed-test
	$(BIN)/ruff check gridgeo tests scripts
	$(BIN)/python -m pytest -n 2 -m "not slow" --doctest-modules gridgeo tests $(PYTEST_ARGS)

test-slow: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m slow tests $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check gridgeo tests scripts
	$(BIN)/ruff format --check gridgeo tests scripts

clean:
	rm -rf out .pytest_cache
