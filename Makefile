# Two commands for a newcomer on Debian (as root, Python 3.11+):
#   make run   - install, migrate, seed the demo, serve http://127.0.0.1:8000
#   make test  - install, then run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Every command below sees them: without SITE_URL, the links the site prints
# (emails, QR codes, the petition's verification address) follow HOST and PORT.
export HOST PORT

# Debian packages: what the app needs to run, and what the tests need besides
# (Go and golang.org/x/mod audit the letter's log in tests/signatures/test_log_go.py).
DEBS_RUN := python3-venv gnupg libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
DEBS_TEST := chromium poppler-utils nodejs zbar-tools golang-go golang-golang-x-mod-dev
# What building gmpy2 from source needs (requirements.txt says why); the
# recipe adds python3-dev when the interpreter has no Python.h.
DEBS_BUILD := gcc libc6-dev libgmp-dev libmpfr-dev libmpc-dev

.PHONY: run test venv debs-run debs-test lint serve

run: venv debs-run
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py seed_demo
	@echo "Serving HTTP and websockets on http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT) --no-access-log --lifespan off --ws websockets-sansio --ws-per-message-deflate false

test: venv debs-run debs-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: installing python3-venv"; \
	  ./scripts/install-debs.sh python3-venv && rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	@./scripts/install-debs.sh $(DEBS_BUILD)
	@$(BIN)/python -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("include"), "Python.h")))' \
	  || ./scripts/install-debs.sh python3-dev
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@# A venv made before requirements.txt asked for the source build keeps
	@# the wheel, whose own GMP lies in gmpy2.libs: rebuild it.
	@if ls -d $(VENV)/lib/python3*/site-packages/gmpy2.libs >/dev/null 2>&1; then \
	  echo "Rebuilding gmpy2 against the system's GMP"; \
	  $(BIN)/python -m pip install --quiet --force-reinstall --no-deps --no-binary gmpy2 "$$(grep '^gmpy2==' requirements.txt)"; fi
	touch $@

debs-run:
	@./scripts/install-debs.sh $(DEBS_RUN)

debs-test:
	@./scripts/install-debs.sh $(DEBS_TEST)
