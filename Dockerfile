# The image behind docker-compose.yaml (target `airflow`, the default) and the inference server
# (target `serve`): the project with its pinned dependencies, on Python 3.11.
FROM python:3.11-slim-bookworm AS base

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/project/dags AIRFLOW__CORE__PLUGINS_FOLDER=/opt/project/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False GX_ANALYTICS_ENABLED=False
# g++: the fast decoder's fused C++ step is compiled on the host that runs it, on first use (about 25 s,
# cached in ~/.cache/rnn-pipeline: mount a volume there to keep it); without it the decoder is ~2x slower.
RUN apt-get update && apt-get install -y --no-install-recommends git curl g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/project
COPY pyproject.toml constraints.txt README.md ./
COPY toolkit toolkit
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

# The inference server behind a load balancer (docs/serving.md):
#   docker build --target serve -t rnn-serve .
#   docker run -p 8000:8000 -v "$PWD/runs/a:/models:ro" rnn-serve --model /models/model.pt
# SIGTERM drains in-flight requests, then exits 0; /healthz answers 503 while draining.
FROM base AS serve
ENV MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
ENTRYPOINT ["python", "-m", "rnn", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--model", "/models/model.pt"]

# Airflow and the MLflow server (docker-compose.yaml); the default target.
FROM base AS airflow
