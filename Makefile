# edureg — run `make help` for the list of targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EDUREG := $(BIN)/edureg
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
STAMP_BENCH := $(VENV)/.installed-bench
DEMO_SCHOOLS ?= 3
DEMO_STUDENTS ?= 150
DEPLOY_ENV ?= /etc/edureg/edureg.env
# About half the ceiling measured on the 2-core machine with the background work running
# (8.8 requests/s): 10 users, each waiting 1–3 s between requests.
SOAK_USERS ?= 10
LOADTEST_ARGS ?= --schools 500 --students-per-school 1000 --steps 100,200,400,800 --duration 120 --profile

.DEFAULT_GOAL := help
.PHONY: help run test check lint typecheck imports migrations-check e2e bench clean backup restore deploy-check faults loadtest loadtest-soak

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(VENV)/bin/python:
	@$(PYTHON) -c "import sys; assert sys.version_info[:2] == (3, 11)" || { echo "Cần Python 3.11 (PYTHON=$(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==25.3

$(STAMP_RUN): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP_RUN) $@

run: $(STAMP_RUN) ## Set up and start the demo (SQLite, demo data, web at http://127.0.0.1:8000)
	$(EDUREG) migrate --no-input -v 0
	$(EDUREG) seed --schools $(DEMO_SCHOOLS) --students-per-school $(DEMO_STUDENTS) --seed 1
	$(EDUREG) up

test: $(STAMP_DEV) ## Install what the tests need and run the whole suite
	@scripts/ensure_chromium.sh
	$(BIN)/pytest -q -p no:cacheprovider

lint: $(STAMP_DEV) ## ruff (lint + format check)
	$(BIN)/ruff check edureg tests bench scripts

typecheck: $(STAMP_DEV) ## mypy with django-stubs
	$(BIN)/mypy edureg

imports: $(STAMP_DEV) ## import-linter layer contract
	$(BIN)/lint-imports

migrations-check: $(STAMP_DEV) ## Fail on model changes without a migration
	$(EDUREG) makemigrations --check --dry-run

check: lint typecheck imports migrations-check test ## Everything CI checks

bench: $(STAMP_DEV) ## Benchmarks (print JSON): seed of 2.5 M students, page timings
	$(BIN)/python bench/seed.py
	$(BIN)/python bench/pages.py

backup: $(STAMP_RUN) ## Back up the database (DATABASE_URL, or var/edureg.sqlite3) into EDUREG_BACKUP_DIR (var/backups)
	scripts/backup.sh

restore: $(STAMP_RUN) ## Restore the newest backup (or BACKUP=dir) into a new scratch database and compare; KEEP=1 keeps the copy
	scripts/restore.sh $(BACKUP) $(if $(KEEP),,--drop)

deploy-check: $(STAMP_RUN) ## Django's deployment checks with a production env file (DEPLOY_ENV=/etc/edureg/edureg.env)
	EDUREG_ENV_FILE=$(DEPLOY_ENV) deploy/edureg-run edureg check --deploy --fail-level WARNING

$(STAMP_BENCH): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(STAMP_RUN) $(STAMP_DEV) $@

faults: $(STAMP_RUN) ## Fault drills (print JSON): PostgreSQL restart, worker kills, simulators down, disk full
	$(BIN)/python bench/faults.py

loadtest: $(STAMP_BENCH) ## Load test: start-of-year mix on gunicorn + PostgreSQL on loopback (prints JSON)
	$(BIN)/python bench/loadtest/run.py $(LOADTEST_ARGS)

loadtest-soak: $(STAMP_BENCH) ## 30-minute soak at half the measured ceiling (SOAK_USERS users): errors and web-worker memory growth
	$(BIN)/python bench/loadtest/run.py --schools 500 --students-per-school 1000 --users $(SOAK_USERS) --soak-load 1 --soak 30

clean: ## Remove the virtual environment and local data (var/)
	rm -rf $(VENV) var
