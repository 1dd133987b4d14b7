#!/usr/bin/env bash
# airflow-init of docker-compose.yaml: runs on every `docker compose up`, before the other
# Airflow services (they wait for it to complete successfully), then exits. Each step is
# idempotent.
#   1. migrate Airflow's metadata database and the governance store (its own database);
#   2. check the policy in config/;
#   3. create the people.yaml users Airflow does not have yet (FAB roles, seed 004 section 6);
#   4. hand the task-log volume and the govflow data directory to AIRFLOW_UID, the user the
#      other services run as (this service runs as root for that step only).
set -euo pipefail

airflow db migrate
# `govflow db upgrade` prints the store's URL, which holds its password: keep it out of logs.
govflow db upgrade >/dev/null
echo "governance store at revision $(govflow db current)"
govflow config check
govflow airflow-users --run

mkdir -p /opt/airflow/logs "${GOVFLOW_DATA_DIR}"
chown -R "${AIRFLOW_UID}:0" /opt/airflow/logs "${GOVFLOW_DATA_DIR}"
