# govflow: `make demo` runs the demo end to end, `make test` runs every test.
# Both create .venv from uv.lock (bootstrapping uv with pip if it is not installed) and a
# project-local Airflow home on SQLite; nothing outside this folder is touched.

SHELL := /bin/bash
ROOT := $(CURDIR)
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
UV_VERSION := 0.13.9
VENV := $(ROOT)/.venv
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(ROOT)/.tools/bin/uv
endif

export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
export AIRFLOW_HOME ?= $(ROOT)/.airflow
export GOVFLOW_DATA_DIR ?= $(ROOT)/data
export GOVFLOW_CONFIG_DIR ?= $(ROOT)/config
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION := False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= sqlite:///$(AIRFLOW_HOME)/airflow.db

.PHONY: demo test setup lint typecheck clean airflow

# The main job: seed the demo, then the daily monitoring DAG (`airflow dags test`, on the
# embedded SQLite) on the day after the first fairness-drift day, then what it recorded.
demo: setup
	$(VENV)/bin/govflow demo seed
	@run_time=$$($(VENV)/bin/govflow demo run-time fairness_drift) && \
	echo "airflow dags test govflow_monitoring_daily $$run_time (log: $(AIRFLOW_HOME)/demo-dag-test.log)" && \
	$(VENV)/bin/airflow dags test govflow_monitoring_daily $$run_time > $(AIRFLOW_HOME)/demo-dag-test.log 2>&1 || \
	{ tail -50 $(AIRFLOW_HOME)/demo-dag-test.log; exit 1; }
	$(VENV)/bin/govflow demo summary
	@echo "Dashboard: make airflow, then http://127.0.0.1:8080/govflow/ (Governance in the Airflow UI); README 'Dashboard'"

# The Airflow UI with the governance dashboard, on 127.0.0.1:8080, against this folder's store
# and demo (run `make demo` first): api-server, scheduler and dag-processor
# (plugins/govflow_airflow/local_airflow.py), the people of people.yaml as SimpleAuthManager
# users with generated passwords. If one of them exits, the others are stopped and this fails
# naming it; Ctrl-C stops all. On the demo data govflow_retention is kept paused (README).
# The settings below are what keeps the three on one SQLite file under load, as the tests'
# stacks run them (tests/support/airflow_stack.py): two task processes at a time instead of
# 32, one api-server worker, DAG files parsed again every 10 minutes instead of every 30 s
# (a changed file within 5); on SQLite the launcher has the scheduler and dag-processor wait
# 60 s for the lock, not 5 s.
AIRFLOW_PORT ?= 8080
airflow: export AIRFLOW__CORE__EXECUTOR ?= LocalExecutor
airflow: export AIRFLOW__CORE__PARALLELISM ?= 2
airflow: export AIRFLOW__API__WORKERS ?= 1
airflow: export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL ?= 600
airflow: export AIRFLOW__API__BASE_URL ?= http://127.0.0.1:$(AIRFLOW_PORT)
airflow: export AIRFLOW__CORE__EXECUTION_API_SERVER_URL ?= http://127.0.0.1:$(AIRFLOW_PORT)/execution/
# The links in alerts, approval requests and reports (README "Alerts"), to this port too.
airflow: export GOVFLOW_AIRFLOW_BASE_URL ?= http://127.0.0.1:$(AIRFLOW_PORT)
airflow: setup
	@AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="$$($(VENV)/bin/govflow airflow-users --simple)" \
		PATH="$(VENV)/bin:$$PATH" $(VENV)/bin/python -P -m govflow_airflow.local_airflow --port $(AIRFLOW_PORT)

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

setup: $(VENV)/.synced $(AIRFLOW_HOME)/.migrated
	$(VENV)/bin/govflow db upgrade

$(ROOT)/.tools/bin/uv:
	$(PYTHON) -m venv $(ROOT)/.tools
	$(ROOT)/.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The install compiles bytecode: evidently and great-expectations import 2-3x faster with .pyc.
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

$(AIRFLOW_HOME)/.migrated: $(VENV)/.synced
	mkdir -p $(AIRFLOW_HOME)
	$(VENV)/bin/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || { cat $(AIRFLOW_HOME)/migrate.log; exit 1; }
	touch $@

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(ROOT)/.tools $(AIRFLOW_HOME) $(GOVFLOW_DATA_DIR)
