#!/usr/bin/env bash
# Hostile logic tests (docs/security.md): never weaker than asked, check mode is the run, interrupts at every
# step, precedence of task options over overrides over profiles and reset.yml, reports that survive any bytes.
# Property-based tests run bounded example counts (HOSTILE_EXAMPLES raises them).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
python -m pytest -q -p no:cacheprovider tests/hostile/test_reports.py tests/hostile/test_weaker.py \
  tests/hostile/test_check_is_run.py tests/hostile/test_precedence.py tests/hostile/test_interrupts.py "$@"
