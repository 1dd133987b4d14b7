# syntax=docker/dockerfile:1
# The govflow image: Apache Airflow's official image plus govflow, with every Python package
# at the version uv.lock pins (the versions the test suite ran against).
#
#   docker compose build        (docker-compose.yaml builds and tags it)
#
# Airflow's constraints file is not applied: uv.lock already pins apache-airflow itself and
# every dependency, and where the lock and the image's constraints differ the lock is what
# was tested. tests/unit/test_compose.py checks that the Airflow and Python versions of the
# base image and the uv version below match uv.lock, pyproject.toml and the Makefile.

# 1. The lock's runtime dependencies as a hashed requirements file, and govflow's wheel.
FROM ghcr.io/astral-sh/uv:0.13.9-python3.11-bookworm-slim AS build
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY include ./include
RUN mkdir /dist \
    && uv export --frozen --no-dev --no-emit-project --format requirements-txt \
        --output-file /dist/requirements.txt \
    && uv build --wheel --out-dir /dist

# 2. The Airflow image with exactly those versions, then govflow without re-resolving.
FROM apache/airflow:3.3.2-python3.11
COPY --from=build /dist /tmp/govflow-dist
# Bytecode is compiled at install: evidently and great-expectations import 2-3x faster.
RUN uv pip install --no-cache --compile-bytecode --require-hashes \
        -r /tmp/govflow-dist/requirements.txt \
    && uv pip install --no-cache --compile-bytecode --no-deps /tmp/govflow-dist/govflow-*.whl
COPY --chmod=0755 docker/airflow-init.sh /opt/govflow/airflow-init.sh
