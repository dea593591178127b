# The image behind docker-compose.yaml: the project with its pinned dependencies, on Python 3.11.
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/project/dags AIRFLOW__CORE__PLUGINS_FOLDER=/opt/project/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False GX_ANALYTICS_ENABLED=False
RUN apt-get update && apt-get install -y --no-install-recommends git curl && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/project
COPY pyproject.toml constraints.txt README.md ./
COPY rnn rnn
COPY costing costing
COPY pipeline pipeline
COPY plugins plugins
# torch==2.13.0 from the PyTorch CPU index (PyPI's wheel is the multi-GB CUDA build).
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -c constraints.txt -e '.[prod]'
COPY dags dags
COPY include include
RUN useradd --create-home --uid 50000 airflow && mkdir -p /opt/airflow && chown -R airflow /opt/airflow
USER airflow
