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
# and demo (run `make demo` first): api-server, scheduler, dag-processor and triggerer, the
# people of people.yaml as SimpleAuthManager users with generated passwords. Ctrl-C stops all.
# The scheduler imports govflow's task modules before it forks task processes
# (govflow_airflow.preload), so no task pays for importing pandas, evidently & co.
AIRFLOW_PORT ?= 8080
airflow: setup
	@export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="$$($(VENV)/bin/govflow airflow-users --simple)" \
		AIRFLOW__API__BASE_URL=http://127.0.0.1:$(AIRFLOW_PORT) PATH="$(VENV)/bin:$$PATH" && \
	trap 'kill $$(jobs -p) 2>/dev/null; wait' INT TERM EXIT && \
	{ $(VENV)/bin/python -P -m govflow_airflow.preload scheduler > $(AIRFLOW_HOME)/scheduler.log 2>&1 & } && \
	for part in dag-processor triggerer; do \
		$(VENV)/bin/airflow $$part > $(AIRFLOW_HOME)/$$part.log 2>&1 & \
	done && \
	$(VENV)/bin/airflow api-server -H 127.0.0.1 -p $(AIRFLOW_PORT) > $(AIRFLOW_HOME)/api-server.log 2>&1 & \
	for attempt in $$(seq 120); do \
		curl -fsS -o /dev/null http://127.0.0.1:$(AIRFLOW_PORT)/api/v2/monitor/health 2>/dev/null && break; sleep 1; \
	done; \
	echo "Airflow: http://127.0.0.1:$(AIRFLOW_PORT)  governance dashboard: http://127.0.0.1:$(AIRFLOW_PORT)/govflow/"; \
	echo "log in as a people.yaml id (eve: ML engineer, carol: compliance, audrey: auditor, victor: viewer, admin);"; \
	echo "passwords: $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated  logs: $(AIRFLOW_HOME)/*.log  (Ctrl-C stops)"; \
	wait

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
