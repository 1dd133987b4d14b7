-- The governance store's own database and role, next to Airflow's metadata database.
-- Run once by the postgres image when its data volume is empty (/docker-entrypoint-initdb.d),
-- as the superuser of POSTGRES_USER; the password comes from the container's environment,
-- never from this file (psql's \getenv, Postgres 15 and later).
\set ON_ERROR_STOP on
\getenv govflow_password GOVFLOW_DB_PASSWORD
\getenv airflow_database POSTGRES_DB

CREATE ROLE govflow LOGIN PASSWORD :'govflow_password';
CREATE DATABASE govflow OWNER govflow;

-- Each database is for its owner only: the governance role cannot open Airflow's metadata
-- database, and nobody but govflow (and the superuser) can open the governance store.
REVOKE CONNECT ON DATABASE govflow FROM PUBLIC;
REVOKE CONNECT ON DATABASE :"airflow_database" FROM PUBLIC;
