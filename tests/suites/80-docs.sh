#!/usr/bin/env bash
# Module, role and playbook docs: antsibull-docs lint clean, and the HTML site builds (scripts/docs.sh).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
bash "$ROOT/scripts/docs.sh"
test -s "$ROOT/docs/_site/collections/arcguard/azcmagent/azcmagent_config_module.html"
test -s "$ROOT/docs/_site/collections/arcguard/azcmagent/lockdown_role.html"
echo "docs: 2 passed, 0 failed"
