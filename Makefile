# nnlearn: `make course` opens the course, `make test` runs every test.
# Both create .venv when it is missing. TORCH_SPEC is what pip installs torch from, as pip's
# arguments (default: torch, whatever your package index offers; CI uses torch==2.13.0). It may
# carry options: TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu" is the CPU
# build. Each word is quoted for the shell, so "torch>=2.2,<3" needs no quotes of its own.

PYTHON ?= python3
TORCH_SPEC ?= torch
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8888
CHAPTER ?=
# The browser tests drive this Chromium (Debian's package); Playwright's download is never used.
export CHROMIUM ?= /usr/bin/chromium

# nbgrader and friends run the venv's own commands as subprocesses.
export PATH := $(abspath $(BIN)):$(PATH)
# pip: no "a new release of pip is available" notice after each install.
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: course refresh test test-gpu bench lint format book book-html browser sandbox assignments grade feedback

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10) and "nnlearn needs Python 3.10 or newer; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per set of extras, remade when pyproject.toml changes. The course includes the
# optional tools chapters 10 and 11 use (MLflow's light distribution, Optuna). The editable installs hide
# setuptools' "Editable installation" banner (a warning about folders named like the package).
EDITABLE := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e
$(VENV)/course.stamp: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(foreach word,$(TORCH_SPEC),'$(word)')
	$(EDITABLE) ".[mlflow,optuna]"
	$(BIN)/jupyter labextension disable --log-level=WARN "@jupyterlab/apputils-extension:announcements"
	touch $@

$(VENV)/test.stamp: $(VENV)/course.stamp
	$(EDITABLE) ".[test]"
	touch $@

# JupyterLab in work/, the learner's git-ignored copy of the chapters (filled on first use;
# chapters new in the course are added, a copy that is there is never overwritten).
course: $(VENV)/course.stamp
	$(BIN)/python scripts/start_course.py --port=$(PORT)

# After `git pull`: the course's version of one chapter (CHAPTER=03) or of all of them into
# work/; a copy you changed is moved to work/backups/<date>_<time>/ first.
refresh:
	$(PYTHON) scripts/working_copy.py refresh $(CHAPTER)

# Every test: lint, then pytest over tests/ and every chapter (nbval), spread over two processes
# (a test file or a notebook stays in one process); nbval's run of each chapter is also the
# book's (conftest.py writes it into book/notebooks/). Then the book is built from those runs,
# and the tests of the built book run, one test at a time over two processes.
PYTEST := $(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider
EXECUTED := book/notebooks
test: $(VENV)/test.stamp browser sandbox book/_vendor/.fetched
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@rm -rf $(EXECUTED)
	$(PYTEST) -n 2 --dist loadfile -m "not book" --executed-into=$(EXECUTED)
	$(MAKE) --no-print-directory book-html
	$(PYTEST) -n 2 --dist load -m book

# Chromium for the browser tests: installed with apt-get when missing on Debian/Ubuntu.
browser:
	@scripts/need_system_tool.sh "$(CHROMIUM)" chromium "the browser tests"

# bubblewrap, the sandbox students' code is graded in (Linux): installed with apt-get when
# missing on Debian/Ubuntu. Elsewhere, or with UNSANDBOXED=1, there is nothing to install.
sandbox:
	@if [ "$$(uname -s)" = Linux ] && [ -z "$(UNSANDBOXED)" ]; then \
		scripts/need_system_tool.sh bwrap bubblewrap "sandboxed grading"; fi

# The book's JavaScript (widget manager, require.js, MathJax), from the npm registry.
book/_vendor/.fetched: scripts/fetch_book_js.sh
	@scripts/need_system_tool.sh npm npm "the book"
	scripts/fetch_book_js.sh book/_vendor
	touch $@

# The book: every chapter run by its test (nbval), each written with its outputs and widget
# state into book/notebooks/ (a chapter with a failing cell stops the build), then the pages.
book: $(VENV)/test.stamp book/_vendor/.fetched
	@rm -rf $(EXECUTED)
	$(PYTEST) -n 2 --dist loadfile notebooks --executed-into=$(EXECUTED)
	$(MAKE) --no-print-directory book-html

# The pages, from the chapters already run into book/notebooks/ (any Sphinx warning, such as a
# broken link, fails the build).
book-html: $(VENV)/test.stamp book/_vendor/.fetched
	$(BIN)/python scripts/book_toc.py
	$(BIN)/jupyter-book build --all -W -n --keep-going book/

# Every benchmark in benchmarks/ (one BLAS thread, see benchmarks/README.md), then the ratios
# they measured, one per line: nnlearn's time over torch's (or over the hand-written numpy loop).
bench: $(VENV)/test.stamp
	@rm -f $(VENV)/bench.log
	@for script in benchmarks/bench_*.py; do \
		echo "== $$script"; \
		$(BIN)/python $$script --threads 1 > $(VENV)/bench.out || exit 1; \
		cat $(VENV)/bench.out | tee -a $(VENV)/bench.log; \
	done
	@echo "== ratios (nnlearn's time over the other's; below 1: nnlearn is faster)"
	@grep '^RATIO ' $(VENV)/bench.log | sed 's/^RATIO /  /'

# The parity suite alone, for a GPU machine with only numpy, torch and pytest installed.
test-gpu:
	PYTHONPATH=. $(PYTHON) -m pytest tests/parity -q -p no:cacheprovider

# The classroom (nbgrader; see "For instructors" in README.md), in assignments/.
assignments: $(VENV)/test.stamp
	$(BIN)/python scripts/classroom.py generate

# UNSANDBOXED=1: grade where bubblewrap cannot run (macOS, Windows); README "For instructors"
# says what that risks.
grade: $(VENV)/test.stamp sandbox
	$(BIN)/python scripts/classroom.py grade $(if $(UNSANDBOXED),--unsandboxed)

feedback: $(VENV)/test.stamp
	$(BIN)/python scripts/classroom.py feedback

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
