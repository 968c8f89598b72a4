# twinbed: `make up` runs the testbed, `make test` passes the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: up down status test lint install browser clean

# Create the virtualenv and install the package. torch is pinned to the local CPU wheel
# (2.13.0) and installed first so nothing pulls a CUDA build.
$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# Debian's chromium for the browser tests (tests/ui); they fail, not skip, without it
browser:
	.ci/install-chromium

install: $(STAMP) browser

up: $(STAMP)
	$(VENV)/bin/twinbed up

down:
	@test -x $(VENV)/bin/twinbed && $(VENV)/bin/twinbed down || echo "nothing to stop"

status: $(STAMP)
	$(VENV)/bin/twinbed status

# lint first: ruff (lint rules in pyproject.toml) and mypy (strict on the core)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# One full suite at a time on a machine: the suite starts live stacks, and two suites at once
# on a 2-core machine make both miss round deadlines. (A no-op in CI, which runs one.)
TEST_LOCK ?= /tmp/twinbed-make-test.lock

# The suite runs at a raised priority (nice -10 when root; a plain user just gets a warning and
# the default priority), so that on a shared machine background work (trainings, builds) cannot
# make its live rounds miss their deadlines.
test: $(STAMP) browser lint
	@flock -n $(TEST_LOCK) true || echo "make test: another suite holds $(TEST_LOCK); waiting"
	flock $(TEST_LOCK) nice -n -10 .ci/suite $(PY)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
