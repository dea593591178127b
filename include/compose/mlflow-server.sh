#!/bin/sh
# The MLflow tracking server of the production deployment; docker-compose.yaml and `make prod-up`
# both run it:  sh mlflow-server.sh --host <address> --port <port>
#
# Logins are required (MLflow's basic-auth app). The auth settings are written to
# MLFLOW_AUTH_CONFIG_PATH (mode 0600) from the environment: the user store lives in Postgres
# (MLFLOW_AUTH_DATABASE_URI); the admin user is created on first start from MLFLOW_AUTH_ADMIN_USERNAME
# and MLFLOW_AUTH_ADMIN_PASSWORD. Runs, params and metrics go to MLFLOW_BACKEND_STORE_URI, artifacts
# to MLFLOW_ARTIFACTS_DESTINATION (S3), proxied by this server: clients need no S3 credentials.
# A login that passed is remembered for MLFLOW_AUTH_CACHE_TTL_SECONDS (default 60; 0 turns it off) by
# the worker that checked it: checking a password hash costs ~0.15 s of CPU, and one training run makes
# about a hundred requests. The price: a changed or revoked password still works on another worker of
# this server for at most that long (MLflow's basic_auth.ini, auth_cache_ttl_seconds).
set -eu
: "${MLFLOW_BACKEND_STORE_URI:?MLFLOW_BACKEND_STORE_URI is not set}"
: "${MLFLOW_ARTIFACTS_DESTINATION:?MLFLOW_ARTIFACTS_DESTINATION is not set}"
: "${MLFLOW_AUTH_DATABASE_URI:?MLFLOW_AUTH_DATABASE_URI is not set}"
: "${MLFLOW_AUTH_CONFIG_PATH:?MLFLOW_AUTH_CONFIG_PATH is not set}"
: "${MLFLOW_AUTH_ADMIN_PASSWORD:?MLFLOW_AUTH_ADMIN_PASSWORD is not set}"
: "${MLFLOW_FLASK_SERVER_SECRET_KEY:?MLFLOW_FLASK_SERVER_SECRET_KEY is not set}"

(umask 077; cat > "$MLFLOW_AUTH_CONFIG_PATH") <<INI
[mlflow]
# Any logged-in user may read every experiment and model; writes need the owner's grant or admin.
default_permission = READ
database_uri = $MLFLOW_AUTH_DATABASE_URI
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = ${MLFLOW_AUTH_CACHE_TTL_SECONDS:-60}
INI

exec mlflow server --app-name basic-auth --serve-artifacts --workers "${MLFLOW_WORKERS:-2}" "$@"
