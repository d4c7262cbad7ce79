# Everything runs inside .venv, created here from nothing but python3.

# Python writes bytecode here even where PYTHONDONTWRITEBYTECODE is set (as on the CI
# image): a test run starts hundreds of syncd processes, and each compiled the package from
# source again (~0.14 s of a 0.25 s start-up), as no installed package does. The bytecode
# goes to the git-ignored __pycache__ folders.
unexport PYTHONDONTWRITEBYTECODE
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Two test workers per core: about half of a test's time is spent waiting on the processes
# and servers it started (a daemon settling a file, a push killed and restarted), and a
# second worker per core fills those waits. The tests wait for events, never for a gap in
# wall-clock time, so a busy machine makes them slower, not wrong.
PYTEST_ARGS ?= -n 4 --dist loadgroup

.PHONY: test test-strict test-strict-pipeline demo lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

# The same tests against a sandbox that answers only what the API pages document, each in
# the least helpful reading (see syncd/sandbox/profile.py).
test-strict: $(STAMP)
	SYNCD_SANDBOX_PROFILE=strict $(BIN)/pytest $(PYTEST_ARGS)

# CI's second step: the end-to-end pipeline tests, where the strict answers matter, against
# the strict sandbox (the whole suite twice would double CI's time for unit tests that talk
# to no sandbox).
test-strict-pipeline: $(STAMP)
	SYNCD_SANDBOX_PROFILE=strict $(BIN)/pytest $(PYTEST_ARGS) tests/pipeline

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

demo: $(STAMP)
	$(BIN)/python examples/demo.py

bench: $(STAMP)
	$(BIN)/python bench/upload.py 256MiB
	$(BIN)/python bench/upload.py 256MiB --mode chunked
	$(BIN)/python bench/many.py 2000 64KiB
	$(BIN)/python bench/rescan.py 10000
	$(BIN)/python bench/resume.py 256MiB

clean:
	rm -rf $(VENV) .demo .pytest_cache .ruff_cache
