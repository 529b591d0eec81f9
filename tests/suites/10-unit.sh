#!/usr/bin/env bash
# Unit tests: planner, parsers, quoting for both shells (property-based, thousands of cases),
# the action plugin for both shell families, docs against the argument spec.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
HYPOTHESIS_PROFILE=ci python -m pytest -q -p no:cacheprovider tests/unit "$@"
