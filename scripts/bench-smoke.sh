#!/usr/bin/env bash
# Every benchmark at a small size, after the tests in CI: each phase must complete and print its
# figures (sizes still past the built-in thresholds: 300 nodes is more than a /16 holds at /24).
# Times are printed, never asserted; a bench that stalls is stopped by its timeout and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
run() {
    echo "== bench $*"
    timeout 900 .venv/bin/python "$@"
}
run bench/store.py
# PostgreSQL with one server and with three (the database the tests use, or scripts/postgres.sh's)
postgres="${PYKUBE_TEST_POSTGRES_URL:-$(bash scripts/postgres.sh | tail -n 1)}"
run bench/api.py --pods 500 --concurrency 10 --watchers 10 --postgres "$postgres"
run bench/authz.py --requests 20000
run bench/scheduler.py --pods 600 --nodes 300 --replicas 300
run bench/pod_startup.py --pods 3 --replicas 5 --no-swarm
run bench/dns.py --smoke
run bench/splice.py --smoke
run bench/proxy.py --smoke
run bench/ingress.py --smoke
run bench/idle.py --idle-seconds 5 --runs 1
run bench/kubectl_startup.py --runs 3
run bench/dashboard.py --smoke
run bench/network_policy.py --nodes 20 --pods 500 --namespaces 10
run bench/crd_rules.py --items 16 --runs 50
run bench/admission_policies.py --policies 5 --runs 50
