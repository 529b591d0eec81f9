#!/usr/bin/env bash
# End-to-end tier (tests/e2e) apart from the feature suites' markers: ansible-playbook runs of the built,
# installed collection against the stand-in (every variant), faults, concurrency, the roles, the audit.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
# the audit report is opened in a real headless Chromium
"$ROOT/scripts/bootstrap.sh" chromium
python -m pytest -q -p no:cacheprovider -n 2 tests/e2e -m "not (windows or azure or drift or onboarding or hostile or ee)" "$@"
