# nnlearn: `make course` opens the course, `make test` runs every test.
# Both create .venv when it is missing. TORCH_SPEC says how torch is installed (default: torch,
# whatever your package index offers; CI uses torch==2.13.0, a local CPU wheel).

PYTHON ?= python3
TORCH_SPEC ?= torch
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8888

# nbgrader and friends run the venv's own commands as subprocesses.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: course test test-gpu lint format

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10) and "nnlearn needs Python 3.10 or newer; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per set of extras, remade when pyproject.toml changes.
$(VENV)/course.stamp: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/jupyter labextension disable "@jupyterlab/apputils-extension:announcements"
	touch $@

$(VENV)/test.stamp: $(VENV)/course.stamp
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

course: $(VENV)/course.stamp
	$(BIN)/python scripts/start_course.py --port=$(PORT)

test: $(VENV)/test.stamp
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider

# The parity suite alone, for a GPU machine with only numpy, torch and pytest installed.
test-gpu:
	PYTHONPATH=. $(PYTHON) -m pytest tests/parity -q -p no:cacheprovider

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
