#!/usr/bin/env bash
# The azcmagent stand-in against the reference: layouts, variants, errors, faults, concurrency.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
python -m pytest -q -p no:cacheprovider -n 2 tests/standin "$@"
