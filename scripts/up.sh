#!/usr/bin/env bash
# Installs pykube (see scripts/install.sh) and Docker (scripts/docker.sh, which also imports a busybox
# image to try pods with: pykube.local/busybox:1.35), then starts a single-node cluster in the foreground.
# Extra arguments go to `pykube server`, e.g. `--port 7443` or `--datastore postgresql://...`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/docker.sh
exec .venv/bin/pykube server "$@"
