#!/usr/bin/env bash
# airflow-init of docker-compose.yaml: runs on every `docker compose up`, before the other
# Airflow services (they wait for it to complete successfully), then exits. Each step is
# idempotent.
#   1. migrate Airflow's metadata database and, as its owner role, the governance store (its
#      own database), granting the application role INSERT and SELECT only on the audit trail;
#   2. check the policy in config/;
#   3. create the people.yaml users Airflow does not have yet (FAB roles, seed 004 section 6);
#   4. hand the task-log volume and the govflow data directory to AIRFLOW_UID, the user the
#      other services run as (this service runs as root for that step only).
set -euo pipefail

airflow db migrate
# As the store's owner: migrate it, and confine the role everything else runs as to
# appending to the audit trail. The output names the store: keep it out of logs.
GOVFLOW_DB_URL="${GOVFLOW_DB_OWNER_URL}" govflow db upgrade --app-role "${GOVFLOW_DB_APP_ROLE}" >/dev/null
echo "governance store at revision $(govflow db current)"
govflow config check
govflow airflow-users --run

mkdir -p /opt/airflow/logs "${GOVFLOW_DATA_DIR}"
chown -R "${AIRFLOW_UID}:0" /opt/airflow/logs "${GOVFLOW_DATA_DIR}"
