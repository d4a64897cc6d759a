#!/usr/bin/env bash
# The load benchmarks, View Credentials then the API, each on SQLite and on a throwaway PostgreSQL
# server on loopback (the API benchmark measures both databases in one run, for one table).
# KEYPORT_BENCH_SECONDS (default 10) sets each wrk run's length; KEYPORT_TEST_OPENSTACK names a
# running test OpenStack for the Keystone comparison (one is started otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get install -y wrk || { $sudo apt-get update && $sudo apt-get install -y wrk; }
fi
pg_dir=$(mktemp -d /tmp/keyport-bench-pg.XXXXXX)
os_dir=""
trap 'scripts/test-postgres.sh stop "$pg_dir"; [ -z "$os_dir" ] || scripts/test-openstack.sh stop "$os_dir"' EXIT
if [ -z "${KEYPORT_TEST_OPENSTACK:-}" ]; then
  os_dir=$(mktemp -d /tmp/keyport-bench-openstack.XXXXXX)
  KEYPORT_TEST_OPENSTACK=$(scripts/test-openstack.sh start "$os_dir" "${KEYPORT_BENCH_OPENSTACK_PORT:-55600}")
  export KEYPORT_TEST_OPENSTACK
fi
cargo bench --bench credentials_page
pg_url=$(scripts/test-postgres.sh start "$pg_dir" "${KEYPORT_BENCH_PG_PORT:-55442}")
KEYPORT_BENCH_POSTGRES_URL="$pg_url" cargo bench --bench credentials_page
KEYPORT_BENCH_POSTGRES_URL="$pg_url" cargo bench --bench api
