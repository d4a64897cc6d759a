#!/usr/bin/env bash
# Installs what the test suite needs on Debian 12: PostgreSQL (server binaries only; the tests
# start their own throwaway cluster), Chromium and its WebDriver, docker-compose (to check
# docker-compose.yml), oathtool (an implementation of TOTP apart from Keyport's, to compute the
# codes of two-factor sign-in), OpenStack Keystone and Swift (with uwsgi and memcached) for the stack that
# scripts/test-openstack.sh starts, the clients whose configuration the portal writes (AWS CLI,
# s3cmd, rclone, the OpenStack and Swift CLIs), and from PyPI, in target/test-venv, moto (the
# AWS peer the tests start) with boto3, schemathesis (which checks the API against its
# OpenAPI document), and IBM's ibm-cloud-sdk-core with PyJWT (the token exchange's IAM client,
# and a check of the tokens' signatures apart from Keyport's code), and aiosmtpd (the SMTP
# server the reminders are delivered to; openssl makes its test certificates); from npm, in
# tests/browser/node_modules, axe-core (the accessibility checks the browser tests run on every
# page), at the version package-lock.json pins; in tests/oidc/node_modules, oidc-provider (the
# certified OpenID provider the single sign-on tests start, tests/oidc/provider.mjs) with jose;
# and binutils, whose `strings` .ci/run uses to check
# that the release binary holds no test hook.
# Does nothing when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
python_packages=('moto[server]>=5.1,<6' 'boto3>=1.34' 'schemathesis>=4.32,<5'
  'ibm-cloud-sdk-core>=3.20,<4' 'PyJWT[crypto]>=2.8,<3'
  'aiosmtpd>=1.4,<2')
if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/schemathesis" ] \
  || ! "$venv/bin/python" -c 'import ibm_cloud_sdk_core, jwt' 2>/dev/null \
  || ! "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  echo "installing ${python_packages[*]} into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${python_packages[@]}"
fi

packages=(postgresql openssl chromium chromium-driver docker-compose awscli s3cmd rclone python3-yaml
  keystone python3-keystonemiddleware uwsgi uwsgi-plugin-python3 memcached
  swift swift-proxy swift-account swift-container swift-object
  python3-swiftclient python3-openstackclient oathtool binutils)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# npm may come with a Node.js that is not Debian's: only a missing npm is installed.
command -v npm >/dev/null || missing+=(npm)
install_axe() {
  if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ]; then
    echo "installing axe-core into tests/browser/node_modules"
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if [ ! -f tests/oidc/node_modules/oidc-provider/package.json ]; then
    echo "installing oidc-provider into tests/oidc/node_modules"
    (cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
if [ ${#missing[@]} -eq 0 ]; then
  install_axe
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install as root: apt-get install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "installing ${missing[*]}"
# Keep package scripts from starting system services (the tests start their own).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
install_axe
