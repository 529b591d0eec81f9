#!/usr/bin/env bash
# Integration: ansible-playbook runs of the built, installed collection against the stand-in
# (every variant), faults, concurrency, hostile input, secrets.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
# the audit report is opened in a real headless Chromium
"$ROOT/scripts/bootstrap.sh" chromium
python -m pytest -q -p no:cacheprovider -n 2 tests/integration "$@"
