#!/usr/bin/env bash
# Drift watch: the arc_drift event source (pure logic, then main() with a queue double against the fake
# Azure: drift, repeat suppression, resolved, profile by tag, every Azure error kind, bad arguments), and
# one end-to-end run of the real ansible-rulebook (Java 17) with the enforce rulebook against a stand-in.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh" java
# shellcheck source=scripts/lib/toolvenv.sh
. "$ROOT/scripts/lib/toolvenv.sh"
mapfile -t pins < <(grep -v '^#' "$ROOT/tests/lib/rulebook-requirements.txt" | grep .)
ARCGUARD_RULEBOOK_BIN=$(toolvenv rulebook "${pins[@]}")
export ARCGUARD_RULEBOOK_BIN
# -s: the end-to-end test prints the seconds from weakening to fixed
# (the pure logic of the source is in the unit tier)
HYPOTHESIS_PROFILE=ci python -m pytest -q -s -p no:cacheprovider tests/component tests/e2e \
  -m "drift and not (onboarding or hostile)" "$@"
