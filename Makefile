# One command to set up and open the course (`make lab`), one to set up and test (`make test`).
# Both bootstrap .venv themselves and are no-ops when it is already up to date.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deeptrain-installed
JOBS   ?= 2
WORK   ?= work
GRADING ?=
# Quiet TensorFlow's C++ log in every process the targets start.
export TF_CPP_MIN_LOG_LEVEL := 3

# A Jupyter server started by these targets finds this environment's programs (formgrader
# runs `alembic` by name) and the course's Jupyter settings (etc/jupyter/README.md).
SERVER_ENV := PATH="$(abspath $(BIN)):$$PATH" JUPYTER_CONFIG_PATH="$(CURDIR)/etc/jupyter" \
              $(if $(GRADING),DEEPTRAIN_GRADING_DIR="$(abspath $(GRADING))",)

.PHONY: setup data sandbox lab formgrader test test-fast release grade bench clean help

help:
	@echo "make lab      set up .venv, get the data, open JupyterLab on your working copy work/"
	@echo "make test     set up .venv, get the data, run the whole test suite"
	@echo "make formgrader [GRADING=DIR]   JupyterLab on formgrader, for the grades in DIR (default grading/)"
	@echo "make release  regenerate course/ from solutions/ (nbgrader generate_assignment)"
	@echo "make grade SUBMISSIONS=DIR   autograde a folder of submissions (one folder per student)"
	@echo "make bench    run the kernel benchmarks and rewrite BENCHMARKS.md"

# Re-install only when the dependency list changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP) data sandbox

# Installs the Debian package (root or password-less sudo) or downloads through Keras when missing.
data: $(STAMP)
	@$(BIN)/python -m deeptrain.data --fetch

# Bubblewrap (bwrap) gives grading kernels their own network, PID and mount namespaces
# (autograder/sandbox.py). Installed like the data package (root or password-less sudo, never a
# password prompt); without it grading still works, with weaker isolation (README, Limits).
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then S=""; elif sudo -n true 2>/dev/null; then S="sudo -n"; else S=no; fi; \
	  if [ "$$S" != no ] && command -v apt-get >/dev/null 2>&1; then \
	    $$S apt-get install -y -q bubblewrap || { $$S apt-get update -q && $$S apt-get install -y -q bubblewrap; }; \
	  fi; \
	  command -v bwrap >/dev/null 2>&1 || echo "bubblewrap is not installed (apt-get install bubblewrap):" \
	    "grading kernels will run without their own network and file system view (README, Limits)"; }

# Jupyter refuses to run as root without --allow-root (containers often run as root).
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root,)

# Students work in work/, a git-ignored copy of course/ made and updated here without ever
# overwriting an edited notebook (lib/deeptrain/workspace.py); the server opens on work/ with
# the student's settings (etc/jupyter/student/ over etc/jupyter/: Validate, no formgrader, no
# Create Assignment panel, no Nbgrader menu). The instructor's tools: `make formgrader`.
lab: setup
	@$(BIN)/python -m deeptrain.workspace course $(WORK)
	$(SERVER_ENV) JUPYTER_CONFIG_PATH="$(CURDIR)/etc/jupyter/student:$(CURDIR)/etc/jupyter" \
	    $(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/$(WORK) $(LAB_FLAGS)

formgrader: setup
	@$(SERVER_ENV) $(BIN)/python -m autograder.formgrader
	$(SERVER_ENV) $(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
	    --LabApp.default_url=/formgrader $(LAB_FLAGS)

test: setup
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile

test-fast: setup
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile -m "not slow" tests

release: setup
	$(BIN)/python -m autograder release

grade: setup
	@test -n "$(SUBMISSIONS)" || (echo "usage: make grade SUBMISSIONS=path/to/submissions" && exit 2)
	$(BIN)/python -m autograder grade $(SUBMISSIONS) $(if $(GRADING),--grading "$(GRADING)",)

bench: setup
	$(BIN)/python -m bench

# work/ is the students' own work: `make clean` leaves it alone.
clean:
	rm -rf $(VENV) grading .pytest_cache
