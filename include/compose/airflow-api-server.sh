#!/bin/sh
# The Airflow API server of the production deployment; docker-compose.yaml and `make prod-up` both
# run it:  sh airflow-api-server.sh --host <address> --port <port>
#
# The simple auth manager reads its users' passwords from a JSON file; it is written here (mode 0600)
# from AIRFLOW_ADMIN_PASSWORD, generated with the other secrets, so no password is ever a default
# and none is printed to the log.
set -eu
: "${AIRFLOW_ADMIN_PASSWORD:?AIRFLOW_ADMIN_PASSWORD is not set}"
: "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE is not set}"

(
  umask 077
  python -c 'import json, os, sys; json.dump({"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}, sys.stdout)' \
    > "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
)
exec airflow api-server "$@"
