#!/usr/bin/env bash
# Installs pykube (see scripts/install.sh) and starts a single-node cluster in the foreground.
# Extra arguments go to `pykube server`, e.g. `--port 7443` or `--datastore postgresql://...`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/pykube server "$@"
