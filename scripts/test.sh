#!/usr/bin/env bash
# The whole test suite: formatting and lints, then every test on SQLite, then the integration
# tests (`tests/it`) again on a PostgreSQL server started here on loopback; the unit tests use
# SQLite files of their own, so they run once. An OpenStack (Keystone + Swift) started here
# on loopback serves the client tests of both runs. Installs missing packages first.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh || exit 1

# The failpoints feature builds the test hooks (KEYPORT_FAILPOINT, KEYPORT_TEST_ROTATE_PAUSE_MS)
# that the tests which kill or interrupt the binary rely on; release builds leave them out.
if cargo nextest --version >/dev/null 2>&1; then
  run_tests=(cargo nextest run --no-fail-fast --features failpoints)
else
  run_tests=(cargo test --no-fail-fast --features failpoints)
fi

step() { printf '\n== %s\n' "$*"; }
failed=()

step "formatting and lints"
cargo fmt --all -- --check || failed+=("cargo fmt")
# Linted with and without the test hooks: each build has code the other has not.
cargo clippy --all-targets --locked --features failpoints -- -D warnings || failed+=("cargo clippy")
cargo clippy --all-targets --locked -- -D warnings || failed+=("cargo clippy without features")

step "docker-compose.yml"
# install-test-deps.sh installs docker-compose: without it the check fails rather than passing unseen.
if command -v docker-compose >/dev/null; then
  POSTGRES_PASSWORD=check docker-compose -f docker-compose.yml config -q || failed+=("docker-compose config")
else
  echo "docker-compose is missing: the compose file was not checked" >&2
  failed+=("docker-compose missing")
fi

step "OpenStack Keystone and Swift for the client tests"
os_dir=$(mktemp -d /tmp/keyport-test-openstack.XXXXXX)
pg_dir=$(mktemp -d /tmp/keyport-test-pg.XXXXXX)
trap 'scripts/test-openstack.sh stop "$os_dir"; scripts/test-postgres.sh stop "$pg_dir"' EXIT
if os_env=$(scripts/test-openstack.sh start "$os_dir" "${KEYPORT_TEST_OPENSTACK_PORT:-55500}"); then
  export KEYPORT_TEST_OPENSTACK=$os_env
else
  failed+=("starting OpenStack")
fi

step "tests on SQLite"
env -u KEYPORT_TEST_POSTGRES_URL "${run_tests[@]}" || failed+=("tests on SQLite")

step "tests on PostgreSQL"
pg_port=${KEYPORT_TEST_PG_PORT:-55432}
# The port lies in the kernel's range for outgoing connections, which the SQLite run used by the
# thousand: if one still holds it, the next ports are tried.
pg_url=""
for port in $(seq "$pg_port" $((pg_port + 9))); do
  if pg_url=$(scripts/test-postgres.sh start "$pg_dir" "$port"); then
    break
  fi
  scripts/test-postgres.sh stop "$pg_dir"
  pg_url=""
done
if [ -n "$pg_url" ]; then
  KEYPORT_TEST_POSTGRES_URL="$pg_url" "${run_tests[@]}" --test it || failed+=("tests on PostgreSQL")
else
  failed+=("starting PostgreSQL")
fi

if [ ${#failed[@]} -gt 0 ]; then
  step "FAILED: ${failed[*]}"
  exit 1
fi
step "all checks passed"
