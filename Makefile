# Two commands do everything: `make lab` and `make test`. Each builds what it needs from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Stamps record which requirement files the venv was built from; editing a pin rebuilds it.
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP     := $(VENV)/.dev-installed

.PHONY: lab lessons test env dev-env chromium chp clean fetch-data workshop

# JupyterLab refuses to run as root unless told to (containers, some workshop VMs).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# The lessons open from copies in a folder of your own, so JupyterLab's autosave (outputs, your
# edits) never writes into the repository's notebooks: `git status` stays clean and `git pull`
# never conflicts. Copies already there are kept; delete one to get the current version.
LESSONS_DIR ?= $(HOME)/medpriv-lessons

lab: $(RUNTIME_STAMP) lessons
	cd "$(LESSONS_DIR)" && "$(CURDIR)/$(BIN)/jupyter" lab $(ALLOW_ROOT) \
	    --LabServerApp.app_settings_dir="$(CURDIR)/jupyterlab_settings" \
	    --notebook-dir="$(LESSONS_DIR)" 00_start_here.ipynb

lessons:
	@mkdir -p "$(LESSONS_DIR)"
	@for nb in notebooks/*.ipynb; do \
	    dest="$(LESSONS_DIR)/$$(basename "$$nb")"; \
	    if [ -e "$$dest" ]; then echo "kept your copy: $$dest"; \
	    else cp "$$nb" "$$dest" && echo "new lesson: $$dest"; fi; \
	done

# Two workers (CI and a laptop have two cores; most tests use one). Each file stays on one
# worker, so a notebook's cells run in order in one kernel. Measured on 2 cores: 32 min on one
# worker; 25 min with two (xdist's largest-file-first order); 29 min with the browser tests
# first (two browser lessons at once slowed each other more than they saved).
test: $(DEV_STAMP) chromium chp
	MEDPRIV_CHP=$(CURDIR)/$(CHP) MEDPRIV_FAST=1 OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1 \
	    $(BIN)/python -m pytest -n 2 --dist loadfile --nbval-lax \
	    -p no:cacheprovider --durations=15 tests notebooks

env: $(RUNTIME_STAMP)
dev-env: $(DEV_STAMP)

$(RUNTIME_STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# The browser test needs Debian's Chromium. Install it when we can (root + apt); otherwise the
# browser test skips and says why.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian chromium for the browser test..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; \
	else echo "chromium not found and cannot install it here: the browser test will be skipped"; fi

# The JupyterHub classroom test needs configurable-http-proxy, JupyterHub's proxy, from npm
# (node 18+). Installed into the venv's own folder; without npm that one test skips and says why.
CHP := $(VENV)/chp/node_modules/.bin/configurable-http-proxy
chp:
	@if [ -x "$(CHP)" ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
	    echo "Installing configurable-http-proxy for the JupyterHub test..."; \
	    npm install --silent --no-audit --no-fund --prefix "$(VENV)/chp" configurable-http-proxy@5.3.0 >/dev/null \
	        || echo "could not install configurable-http-proxy: the JupyterHub classroom test will be skipped"; \
	else echo "npm not found: the JupyterHub classroom test will be skipped"; fi

# Code-free workshop: the lessons as Voila dashboards (no code shown) on http://127.0.0.1:8866/.
# WORKSHOP_IP=0.0.0.0 serves the room's network; precompute first (medpriv precompute --profile workshop).
WORKSHOP_IP ?= 127.0.0.1
workshop: $(RUNTIME_STAMP)
	$(BIN)/medpriv serve --ip $(WORKSHOP_IP)

fetch-data: $(RUNTIME_STAMP)
	$(BIN)/medpriv data fetch --size 28 64 128

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
