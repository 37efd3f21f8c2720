#!/usr/bin/env bash
# Runs every test of the project. Installs what the tests need when it is missing (idempotent),
# so it works on a fresh machine: moto (local SQS/DynamoDB) in .venv, Prometheus' promtool.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n==> %s\n' "$*"; }

step "Installing test stand-ins that are missing"
if [ ! -x .venv/bin/moto_server ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5.1,<6'
fi
apt_missing=()
command -v promtool >/dev/null || apt_missing+=(prometheus)
if [ ${#apt_missing[@]} -gt 0 ]; then
    echo "apt-get install ${apt_missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi
export MOTO_SERVER="$root/.venv/bin/moto_server"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test --workspace"
cargo test --workspace
