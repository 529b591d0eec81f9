#!/usr/bin/env bash
# Integration: ansible-playbook runs of the built, installed collection against the stand-in
# (every variant), faults, concurrency, hostile input, secrets.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
python -m pytest -q -p no:cacheprovider -n 2 tests/integration "$@"
