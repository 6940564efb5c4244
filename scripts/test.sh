#!/usr/bin/env bash
# Installs pykube with its test tools, starts the services the tests need (a throwaway PostgreSQL
# on 127.0.0.1:55432, the Docker engine with the test image, a private registry on 127.0.0.1:5000), then runs the linters, the layer contract and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PYKUBE_EXTRAS=test bash scripts/install.sh
PYKUBE_TEST_POSTGRES_URL="$(bash scripts/postgres.sh | tail -n 1)"
bash scripts/docker.sh
bash scripts/registry.sh >/dev/null
export PYKUBE_TEST_POSTGRES_URL
.venv/bin/ruff check minikube_py tests bench
.venv/bin/ruff format --check minikube_py tests bench
.venv/bin/lint-imports
# Every server, agent and `pykube kubectl` the tests start is a new interpreter. Where
# PYTHONDONTWRITEBYTECODE is set (as on the CI machines) an editable checkout never caches its
# bytecode, and each of them would compile pykube's ~140 modules again (~0.17 s); compileall writes
# the caches regardless of that setting, as pip does for an installed package.
.venv/bin/python -m compileall -q minikube_py
.venv/bin/pytest -q -p no:cacheprovider "$@"
