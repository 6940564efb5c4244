#!/usr/bin/env bash
# Installs what pykube needs on a Debian/Ubuntu machine (as root) and the package itself into
# .venv. Idempotent: a second run only checks. Used by scripts/up.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_updated=0
need_pkg() {  # need_pkg <command-or-path> <debian-package>
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -e "$1" ]; then
        if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
}

need_pkg python3 python3
if ! python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "pykube needs Python >= 3.11 (found $(python3 --version 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
        rm -rf .venv
        need_pkg /usr/share/doc/python3-venv python3-venv
        python3 -m venv .venv
    fi
fi
extra="${PYKUBE_EXTRAS:-}"
stamp=".venv/.installed${extra:+-$extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    # the distribution was called "pykube" before (another project's name on PyPI): a venv that has the
    # old one would import minikube_py through two distributions
    .venv/bin/python -m pip uninstall -q -y pykube >/dev/null 2>&1 || true
    .venv/bin/python -m pip install -q -e ".${extra:+[$extra]}"
    touch "$stamp"
fi
if [[ ",$extra," == *",test,"* ]]; then
    # the dashboard's end-to-end tests drive Debian's Chromium with Playwright, which may not download a
    # browser build of its own
    need_pkg /usr/bin/chromium chromium
fi
