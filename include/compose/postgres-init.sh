#!/bin/sh
# Each consumer has its own role, with a generated password (never a default): airflow owns the Airflow metadata DB,
# `mlflow` the MLflow tracking and auth DBs; airflow also owns `optuna`, the sweeps' studies (rnn_sweep). Run once on an empty cluster, as the superuser:
# by the postgres image (docker-compose.yaml mounts it into /docker-entrypoint-initdb.d) and by
# `make prod-up` (devtools/production.py, over TCP with PGHOST/PGPORT/PGPASSWORD set).
set -eu
: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is not set}"
: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is not set}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v airflow_password="$AIRFLOW_DB_PASSWORD" -v mlflow_password="$MLFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
CREATE DATABASE optuna OWNER airflow;
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
CREATE DATABASE mlflow_auth OWNER mlflow;
SQL
