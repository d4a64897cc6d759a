#!/usr/bin/env bash
# Starts or stops a throwaway OpenStack for the tests, on loopback: Keystone v3 (Debian's
# package under uwsgi, SQLite, fernet tokens, memcached as its cache) and Swift (proxy with
# authtoken + s3api + s3token + keystoneauth, one-replica account, container and object servers in a plain folder),
# and a second Swift proxy with no authentication at all, for the tests to lay down many objects
# without asking Keystone once per object (the stack is on loopback and lives for one test run).
#   scripts/test-openstack.sh start DIR BASE_PORT   # prints the settings file, DIR/stack.env
#   scripts/test-openstack.sh stop DIR
# Everything lives in DIR; nothing under /etc is read or written. Ports BASE_PORT..BASE_PORT+6.
# Each service runs in its own session (process group); stop signals exactly those groups.
set -euo pipefail

action=${1:?start or stop}
dir=${2:?folder for the stack}

stop() {
  for pidfile in "$dir"/pids/*; do
    [ -f "$pidfile" ] || continue
    kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 1
  for pidfile in "$dir"/pids/*; do
    [ -f "$pidfile" ] || continue
    kill -KILL -- "-$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

# Starts a command in a session of its own, logging to DIR/NAME.log.
launch() {
  local name=$1
  shift
  setsid "$@" >"$dir/$name.log" 2>&1 < /dev/null &
  echo $! >"$dir/pids/$name"
}

wait_for() {
  local what=$1 url=$2
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null --max-time 2 "$url"; then
      return 0
    fi
    sleep 0.2
  done
  echo "$what did not answer at $url; its log:" >&2
  tail -n 40 "$dir"/*.log >&2
  return 1
}

case "$action" in
  start)
    base=${3:?base port}
    memcached_port=$base
    keystone_port=$((base + 1))
    proxy_port=$((base + 2))
    account_port=$((base + 3))
    container_port=$((base + 4))
    object_port=$((base + 5))
    fill_port=$((base + 6))
    admin_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    swift_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    keystone_url="http://127.0.0.1:$keystone_port/v3"
    mkdir -p "$dir/pids" "$dir/srv/d1" "$dir/fernet-keys" "$dir/credential-keys"
    trap 'stop' ERR

    launch memcached memcached -l 127.0.0.1 -p "$memcached_port" -U 0 -u "$(id -un)" -m 64

    cat >"$dir/keystone.conf" <<EOF
[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///$dir/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = $dir/fernet-keys
[fernet_receipts]
key_repository = $dir/fernet-keys
[credential]
key_repository = $dir/credential-keys
[identity]
# Fast password checks: this Keystone lives for one test run.
password_hash_rounds = 4
[cache]
enabled = true
backend = oslo_cache.memcache_pool
memcache_servers = 127.0.0.1:$memcached_port
EOF
    manage=(keystone-manage --config-file "$dir/keystone.conf")
    "${manage[@]}" db_sync >"$dir/keystone-manage.log" 2>&1
    sqlite3_wal() { python3 -c "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('pragma journal_mode=wal')" "$1"; }
    sqlite3_wal "$dir/keystone.db"
    "${manage[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >>"$dir/keystone-manage.log" 2>&1
    "${manage[@]}" credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >>"$dir/keystone-manage.log" 2>&1
    "${manage[@]}" bootstrap --bootstrap-password "$admin_password" \
      --bootstrap-admin-url "$keystone_url/" --bootstrap-internal-url "$keystone_url/" \
      --bootstrap-public-url "$keystone_url/" --bootstrap-region-id RegionOne >>"$dir/keystone-manage.log" 2>&1

    # One worker with one thread: Keystone on SQLite. With two workers, two writes at once (two
    # password changes) fail with "database is locked", and Keystone then answers nothing at all:
    # uwsgi's router keeps the client's connection open until the client gives up.
    # uwsgi's HTTP router with keep-alive, no teardown at exit.
    launch keystone env OS_KEYSTONE_CONFIG_DIR="$dir" OS_KEYSTONE_CONFIG_FILES=keystone.conf \
      uwsgi --plugin corerouter,http,python3 --master --processes 1 --threads 1 \
      --http "127.0.0.1:$keystone_port" --http-keepalive \
      --wsgi-file /usr/bin/keystone-wsgi-public --die-on-term --skip-atexit --skip-atexit-teardown \
      --buffer-size 65535
    wait_for Keystone "$keystone_url"

    # The admin's view: a service project and user for Swift, the object-store endpoint.
    export OS_AUTH_URL=$keystone_url OS_IDENTITY_API_VERSION=3 OS_USERNAME=admin \
      OS_PASSWORD=$admin_password OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default \
      OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=RegionOne
    {
      /usr/bin/openstack project create --domain default service
      /usr/bin/openstack user create --domain default --password "$swift_password" swift
      /usr/bin/openstack role add --project service --user swift admin
      /usr/bin/openstack service create --name swift object-store
      /usr/bin/openstack endpoint create --region RegionOne object-store public "http://127.0.0.1:$proxy_port/v1/AUTH_%(project_id)s"
    } >"$dir/keystone-setup.log" 2>&1

    cat >"$dir/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = $(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
[storage-policy:0]
name = Policy-0
default = yes
EOF
    for kind in account container object; do
      port_var=${kind}_port
      (cd "$dir" && swift-ring-builder "$kind.builder" create 8 1 1 \
        && swift-ring-builder "$kind.builder" add "r1z1-127.0.0.1:${!port_var}/d1" 100 \
        && swift-ring-builder "$kind.builder" rebalance) >"$dir/ring-$kind.log" 2>&1 || true
      cat >"$dir/$kind-server.conf" <<EOF
[DEFAULT]
user = $(id -un)
bind_ip = 127.0.0.1
bind_port = ${!port_var}
devices = $dir/srv
mount_check = false
swift_dir = $dir
workers = 1
log_address = /dev/null
[pipeline:main]
pipeline = $kind-server
[app:$kind-server]
use = egg:swift#$kind
[$kind-replicator]
[$kind-updater]
[$kind-auditor]
EOF
      launch "$kind" "swift-$kind-server" "$dir/$kind-server.conf"
    done

    cat >"$dir/proxy-server.conf" <<EOF
[DEFAULT]
user = $(id -un)
bind_ip = 127.0.0.1
bind_port = $proxy_port
swift_dir = $dir
workers = 1
log_address = /dev/null
[pipeline:main]
# s3token sets the identity of an S3 request itself; authtoken, which strips identity headers,
# must therefore come before it (this Swift, 2.30), as in devstack.
pipeline = catch_errors proxy-logging authtoken s3api s3token keystoneauth proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:proxy-logging]
use = egg:swift#proxy_logging
# The S3 API: EC2 signatures checked by Keystone at /v3/s3tokens, with no cache of secrets
# (secret_cache_duration 0), so a deleted EC2 credential is refused at once.
[filter:s3api]
use = egg:swift#s3api
# Swift's default location: the S3 region differs from the catalog's RegionOne, as on clouds
# whose s3api was left as installed; the tests sign S3 requests with S3_REGION.
location = us-east-1
[filter:s3token]
use = egg:swift#s3token
auth_uri = $keystone_url
auth_type = password
auth_url = $keystone_url
username = swift
password = $swift_password
project_name = service
user_domain_name = Default
project_domain_name = Default
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $keystone_url
auth_url = $keystone_url
auth_type = password
username = swift
password = $swift_password
project_name = service
user_domain_name = Default
project_domain_name = Default
delay_auth_decision = true
# No token cache: a revoked token or password stops working at once.
token_cache_time = -1
memcached_servers = 127.0.0.1:$memcached_port
[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
EOF
    launch proxy swift-proxy-server "$dir/proxy-server.conf"
    wait_for Swift "http://127.0.0.1:$proxy_port/healthcheck"

    # The fill proxy: the same rings and servers, no authentication. A test that needs thousands
    # of objects in a bucket puts them here; through s3api each PUT costs a Keystone s3tokens call,
    # and 2,500 of them at once keep Keystone's one worker from answering anything else in time.
    cat >"$dir/fill-proxy-server.conf" <<EOF
[DEFAULT]
user = $(id -un)
bind_ip = 127.0.0.1
bind_port = $fill_port
swift_dir = $dir
workers = 1
log_address = /dev/null
[pipeline:main]
pipeline = catch_errors proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
EOF
    launch fill-proxy swift-proxy-server "$dir/fill-proxy-server.conf"
    wait_for "Swift's fill proxy" "http://127.0.0.1:$fill_port/info"

    cat >"$dir/stack.env" <<EOF
KEYSTONE_URL=$keystone_url
SWIFT_URL=http://127.0.0.1:$proxy_port
SWIFT_FILL_URL=http://127.0.0.1:$fill_port
ADMIN_USER=admin
ADMIN_PASSWORD=$admin_password
ADMIN_PROJECT=admin
REGION=RegionOne
S3_REGION=us-east-1
EOF
    trap - ERR
    echo "$dir/stack.env"
    ;;
  stop)
    stop
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start DIR BASE_PORT | stop DIR" >&2
    exit 2
    ;;
esac
