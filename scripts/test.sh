#!/usr/bin/env bash
# The whole test suite: formatting and lints, then every test on SQLite, then every test again
# on a PostgreSQL server started here on loopback. Installs missing Debian packages first.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh || exit 1

if cargo nextest --version >/dev/null 2>&1; then
  run_tests=(cargo nextest run --no-fail-fast)
else
  run_tests=(cargo test --no-fail-fast)
fi

step() { printf '\n== %s\n' "$*"; }
failed=()

step "formatting and lints"
cargo fmt --all -- --check || failed+=("cargo fmt")
cargo clippy --all-targets --locked -- -D warnings || failed+=("cargo clippy")

step "docker-compose.yml"
if command -v docker-compose >/dev/null; then
  POSTGRES_PASSWORD=check docker-compose -f docker-compose.yml config -q || failed+=("docker-compose config")
fi

step "tests on SQLite"
env -u KEYPORT_TEST_POSTGRES_URL "${run_tests[@]}" || failed+=("tests on SQLite")

step "tests on PostgreSQL"
pg_dir=$(mktemp -d /tmp/keyport-test-pg.XXXXXX)
pg_port=${KEYPORT_TEST_PG_PORT:-55432}
trap 'scripts/test-postgres.sh stop "$pg_dir"' EXIT
if pg_url=$(scripts/test-postgres.sh start "$pg_dir" "$pg_port"); then
  KEYPORT_TEST_POSTGRES_URL="$pg_url" "${run_tests[@]}" || failed+=("tests on PostgreSQL")
else
  failed+=("starting PostgreSQL")
fi

if [ ${#failed[@]} -gt 0 ]; then
  step "FAILED: ${failed[*]}"
  exit 1
fi
step "all checks passed"
