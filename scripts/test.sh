#!/usr/bin/env bash
# The whole test suite. Installs what it needs first (scripts/bootstrap.sh), then runs every
# suite in tests/suites/ in order and ends with a summary line.
#
#   scripts/test.sh            all suites
#   scripts/test.sh unit sanity  only the suites whose names contain one of the words
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh" python collection || { echo "bootstrap failed"; exit 1; }
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"

mkdir -p "$ROOT/build/test-logs"
passed=0; failed=0; failed_names=()
start_all=$(date +%s)
for suite in "$ROOT"/tests/suites/*.sh; do
  name=$(basename "$suite" .sh)
  if [ $# -gt 0 ]; then
    pick=0; for w in "$@"; do case $name in *"$w"*) pick=1 ;; esac; done
    [ $pick = 1 ] || continue
  fi
  echo "=== suite $name"
  t0=$(date +%s)
  # pipefail (set above): the suite's own exit status decides, not tee's
  if bash "$suite" 2>&1 | tee "$ROOT/build/test-logs/$name.log"; then rc=0; else rc=1; fi
  t1=$(date +%s)
  if [ $rc = 0 ]; then
    passed=$((passed + 1)); echo "=== suite $name: ok ($((t1 - t0)) s)"
  else
    failed=$((failed + 1)); failed_names+=("$name"); echo "=== suite $name: FAILED ($((t1 - t0)) s)"
  fi
done
echo "=== $((passed + failed)) suites in $(( $(date +%s) - start_all )) s; failed: ${failed_names[*]:-none}"
echo "suites: $passed passed, $failed failed"
[ $failed = 0 ]
