#!/usr/bin/env bash
# Unit tier (tests/unit, in-process, no subprocess): planner, parsers, the layers of plugin_utils, docs against the
# argument specs, role variables, report builders, the catalog's lifecycle, the drift watch's pure logic; hypothesis
# with the ci profile (thousands of cases). The inner loop is the same tier with the dev profile: pytest tests/unit.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
HYPOTHESIS_PROFILE=ci python -m pytest -q -p no:cacheprovider tests/unit "$@"
