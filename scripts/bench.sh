#!/usr/bin/env bash
# The View Credentials load benchmark on SQLite, then on a throwaway PostgreSQL server on loopback.
# KEYPORT_BENCH_SECONDS (default 20) and KEYPORT_BENCH_CLIENTS (default 64) tune it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench credentials_page
pg_dir=$(mktemp -d /tmp/keyport-bench-pg.XXXXXX)
trap 'scripts/test-postgres.sh stop "$pg_dir"' EXIT
pg_url=$(scripts/test-postgres.sh start "$pg_dir" "${KEYPORT_BENCH_PG_PORT:-55442}")
KEYPORT_BENCH_POSTGRES_URL="$pg_url" cargo bench --bench credentials_page
