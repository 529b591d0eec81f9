#!/usr/bin/env bash
# Component tier (tests/component) apart from the feature suites' markers: the stand-in against the reference
# (layouts, variants, errors, faults, concurrency, services), the remote scripts run by a real /bin/sh and parsed
# by tree-sitter-powershell (property-based), the runner, and the action plugins for both shell families against
# stand-in hosts through one harness (tests/lib/actions.py).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
HYPOTHESIS_PROFILE=ci python -m pytest -q -p no:cacheprovider -n 2 tests/component \
  -m "not (windows or azure or drift or onboarding or hostile)" "$@"
