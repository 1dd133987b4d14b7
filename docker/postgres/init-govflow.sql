-- The governance store's own database and roles, next to Airflow's metadata database.
-- Run once by the postgres image when its data volume is empty (/docker-entrypoint-initdb.d),
-- as the superuser of POSTGRES_USER; the passwords come from the container's environment,
-- never from this file (psql's \getenv, Postgres 15 and later).
--
-- Two roles, so that what govflow runs as cannot undo its audit trail (issue 13 item 6):
-- govflow_owner owns the database and its tables and runs the migrations (airflow-init only);
-- govflow is what every task, the CLI and the gateway connect as. `govflow db upgrade
-- --app-role govflow` gives it INSERT and SELECT only on audit_events, so it can neither
-- truncate the trail nor disable the triggers that keep it append-only.
\set ON_ERROR_STOP on
\getenv owner_password GOVFLOW_DB_OWNER_PASSWORD
\getenv govflow_password GOVFLOW_DB_PASSWORD
\getenv airflow_database POSTGRES_DB

CREATE ROLE govflow_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE govflow LOGIN PASSWORD :'govflow_password';
CREATE DATABASE govflow OWNER govflow_owner;

-- Each database is for its own roles only: neither governance role can open Airflow's
-- metadata database, and nobody but them (and the superuser) can open the governance store.
REVOKE CONNECT ON DATABASE govflow FROM PUBLIC;
GRANT CONNECT ON DATABASE govflow TO govflow;
REVOKE CONNECT ON DATABASE :"airflow_database" FROM PUBLIC;
