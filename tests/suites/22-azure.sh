#!/usr/bin/env bash
# Azure: the arc inventory plugin (ansible-inventory --list/--graph, constructed, caching, paging over several
# pages, throttling, unreadable scopes, every sign-in source, no secret at -vvvv, the SDK-missing message, values
# from Azure reach Ansible as data on the newest and the oldest ansible-core we claim), arc_machine_info, and the
# audit with audit_source host, azure and both, against the fake Azure on loopback (tests/lib/fakeazure.py) and
# stand-in agents.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
# shellcheck source=scripts/lib/toolvenv.sh
. "$ROOT/scripts/lib/toolvenv.sh"
mapfile -t pins < <(grep -v '^#' "$ROOT/tests/lib/oldest-core-requirements.txt" | grep .)
ARCGUARD_OLDEST_CORE_BIN=$(toolvenv azure-core-2.16 "${pins[@]}")
export ARCGUARD_OLDEST_CORE_BIN
python -m pytest -q -p no:cacheprovider -n 2 tests/component tests/e2e \
  -m "azure and not (drift or onboarding or hostile)" "$@"
