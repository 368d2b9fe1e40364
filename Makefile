# One command to set up and open the course (`make lab`), one to set up and test (`make test`).
# Both bootstrap .venv themselves and are no-ops when it is already up to date.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deeptrain-installed
JOBS   ?= 2
# Quiet TensorFlow's C++ log in every process the targets start.
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: setup data lab test test-fast release grade bench clean help

help:
	@echo "make lab      set up .venv, check the data, open JupyterLab on course/"
	@echo "make test     set up .venv, check the data, run the whole test suite"
	@echo "make release  regenerate course/ from solutions/ (nbgrader generate_assignment)"
	@echo "make grade SUBMISSIONS=DIR   autograde a folder of submissions (one folder per student)"
	@echo "make bench    run the kernel benchmarks and rewrite BENCHMARKS.md"

# Re-install only when the dependency list changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP) data

data: $(STAMP)
	@$(BIN)/python -m deeptrain.data --check

# Jupyter refuses to run as root without --allow-root (containers often run as root).
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=course $(LAB_FLAGS)

test: setup
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile

test-fast: setup
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile -m "not slow" tests

release: setup
	$(BIN)/python -m autograder release

grade: setup
	@test -n "$(SUBMISSIONS)" || (echo "usage: make grade SUBMISSIONS=path/to/submissions" && exit 2)
	$(BIN)/python -m autograder grade $(SUBMISSIONS)

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) grading .pytest_cache
